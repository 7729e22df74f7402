/**
 * What the pool counts and announces: counters (cheap, always on), and the events `db.on(...)`
 * delivers (emitted only when someone listens).
 */
import type { ConfigError, PoolTimeoutError } from '../errors/error-classes.js'
import type { PoolStateSnapshot } from '../errors/error-messages.js'
import type { StatementScope } from './instrumentation.js'

/** Why a connection was closed, as counted in `stats().counters.destroyed`. */
export type DestroyReason = 'broken' | 'lifetime' | 'idle' | 'validation' | 'unclean' | 'closing' | 'released-with-error' | 'wrong-server'

export interface PoolCounters {
  /** Connections lent (to a scope, a checkout, or a one-shot statement). */
  acquired: number
  released: number
  created: number
  destroyed: Record<DestroyReason, number>
  timeouts: number
  validationFailures: number
  connectFailures: number
  /** Connections returned dirty and cleaned (cancel, rollback, session reset). */
  resets: number
  leaks: number
  /** Transactions re-run after a serialization failure or deadlock. */
  retries: number
  /** afterCommit / afterRollback hooks that threw. */
  hookErrors: number
  /** One-shot statements sent on a connection that already had another caller's statement in flight. */
  pipelined: number
}

export interface PoolStats extends PoolStateSnapshot {
  counters: PoolCounters
  /** Milliseconds acquirers waited, from bucket bounds (approximate, never under the real value by more than a bucket). */
  acquireWaitMs: { p50: number; p90: number; p99: number; max: number; count: number }
}

/** A finished statement, as the `query` event reports it. Measured only while someone listens. */
export interface QueryEvent {
  /** The SQL text with `$n` placeholders: parameter values are never reported. */
  sql: string
  durationMs: number
  rowCount: number | null
  /** The command tag's verb (SELECT, INSERT, ...), when it succeeded and the driver reports it. */
  command: string | undefined
  /** The failure, by class name, stable code and SQLSTATE; undefined on success. */
  error: { name: string; code: string; sqlState: string | undefined } | undefined
  scope: StatementScope
  /** pgsteward's own API, or the pg.Pool facade (Kysely, Drizzle, pg code). */
  via: 'pgsteward' | 'pg-facade'
  connectionId: number | undefined
}

/** Payloads of the events `db.on(...)` delivers. */
export interface DatabaseEvents {
  acquire: [{ connectionId: number; waitedMs: number }]
  release: [{ connectionId: number; heldMs: number }]
  /** A server connection opened; `connectMs` is how long opening it took (TCP, TLS, authentication, start-up). */
  connect: [{ connectionId: number; connectMs: number }]
  destroy: [{ connectionId: number; reason: DestroyReason }]
  timeout: [PoolTimeoutError]
  leak: [{ connectionId: number; heldMs: number; acquiredAt: string | undefined }]
  leakReturned: [{ connectionId: number; heldMs: number }]
  error: [Error]
  warning: [ConfigError]
  /** A transaction is about to be re-run after a serialization failure or deadlock. */
  retry: [{ attempt: number; delayMs: number; error: unknown }]
  /** An afterCommit or afterRollback hook threw; the transaction's outcome stands. */
  hookError: [{ phase: 'afterCommit' | 'afterRollback'; error: unknown }]
  /** A statement finished. Costs nothing while nobody listens. */
  query: [QueryEvent]
}

export function newCounters(): PoolCounters {
  return {
    acquired: 0,
    released: 0,
    created: 0,
    destroyed: { broken: 0, lifetime: 0, idle: 0, validation: 0, unclean: 0, closing: 0, 'released-with-error': 0, 'wrong-server': 0 },
    timeouts: 0,
    validationFailures: 0,
    connectFailures: 0,
    resets: 0,
    leaks: 0,
    retries: 0,
    hookErrors: 0,
    pipelined: 0,
  }
}
