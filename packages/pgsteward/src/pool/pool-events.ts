/**
 * What the pool counts and announces: counters (cheap, always on), and the events `db.on(...)`
 * delivers (emitted only when someone listens).
 */
import type { ConfigError, PoolTimeoutError } from '../errors/error-classes.js'
import type { PoolStateSnapshot } from '../errors/error-messages.js'
import type { StatementScope } from './instrumentation.js'

/** Why a connection was closed, as counted in `stats().counters.destroyed`. */
export type DestroyReason = 'broken' | 'lifetime' | 'idle' | 'validation' | 'unclean' | 'closing' | 'released-with-error' | 'wrong-server'

/** Totals since the database was created; they only grow. */
export interface PoolCounters {
  /** Connections lent (to a scope, a checkout, or a one-shot statement). */
  acquired: number
  /** Connections given back. */
  released: number
  /** Server connections opened. */
  created: number
  /** Server connections closed, by reason. */
  destroyed: Record<DestroyReason, number>
  /** Waits for a connection that ended in `PoolTimeoutError`. */
  timeouts: number
  /** Idle connections found dead when checked before lending. */
  validationFailures: number
  /** Failed attempts to open a server connection. */
  connectFailures: number
  /** Connections returned dirty and cleaned (cancel, rollback, session reset). */
  resets: number
  /** Connections held longer than `pool.leakDetectionMs`. */
  leaks: number
  /** Transactions re-run after a serialization failure or deadlock. */
  retries: number
  /** afterCommit / afterRollback hooks that threw. */
  hookErrors: number
  /** One-shot statements sent on a connection that already had another caller's statement in flight. */
  pipelined: number
}

/** What `db.stats()` returns: the gauges now, the counters so far, and how long acquirers waited. */
export interface PoolStats extends PoolStateSnapshot {
  /** Totals since the database was created. */
  counters: PoolCounters
  /** Milliseconds acquirers waited, from bucket bounds (approximate, never under the real value by more than a bucket). */
  acquireWaitMs: {
    /** Median wait. */
    p50: number
    /** 90th percentile. */
    p90: number
    /** 99th percentile. */
    p99: number
    /** Longest wait seen. */
    max: number
    /** Waits measured. */
    count: number
  }
}

/** A finished statement, as the `query` event reports it. Measured only while someone listens. */
export interface QueryEvent {
  /** The SQL text with `$n` placeholders: parameter values are never reported. */
  sql: string
  /** From sending the statement to its last result, in milliseconds. */
  durationMs: number
  /** Rows returned or affected; null when the statement failed or the driver does not report it. */
  rowCount: number | null
  /** The command tag's verb (SELECT, INSERT, ...), when it succeeded and the driver reports it. */
  command: string | undefined
  /** The failure, by class name, stable code and SQLSTATE; undefined on success. */
  error:
    | {
        /** The error class's name, e.g. 'UniqueViolationError'. */
        name: string
        /** The stable `code`, e.g. 'UNIQUE_VIOLATION'. */
        code: string
        /** The SQLSTATE, for errors PostgreSQL reported. */
        sqlState: string | undefined
      }
    | undefined
  /** Which kind of caller ran it: a one-shot statement, a session, a transaction, or a facade checkout. */
  scope: StatementScope
  /** pgsteward's own API, or the pg.Pool facade (Kysely, Drizzle, pg code). */
  via: 'pgsteward' | 'pg-facade'
  /** The connection it ran on; undefined if it never got one. */
  connectionId: number | undefined
}

/**
 * The events `db.on(...)` delivers, each with its listener's arguments. An event nobody listens
 * to costs nothing.
 * @example
 * ```ts
 * db.on('timeout', (err) => log.warn({ pool: err.pool }, err.message))
 * db.on('retry', ({ attempt, delayMs }) => log.info({ attempt, delayMs }, 'transaction re-run'))
 * ```
 */
export interface DatabaseEvents {
  /** A connection was lent. */
  acquire: [
    {
      /** The connection lent. */
      connectionId: number
      /** How long the borrower waited for it, in milliseconds. */
      waitedMs: number
    },
  ]
  /** A connection was given back. */
  release: [
    {
      /** The connection given back. */
      connectionId: number
      /** How long it was held, in milliseconds. */
      heldMs: number
    },
  ]
  /** A server connection was opened. */
  connect: [
    {
      /** The new connection. */
      connectionId: number
      /** How long opening it took (TCP, TLS, authentication, start-up), in milliseconds. */
      connectMs: number
    },
  ]
  /** A server connection was closed. */
  destroy: [
    {
      /** The connection closed. */
      connectionId: number
      /** Why it was closed. */
      reason: DestroyReason
    },
  ]
  /** A wait for a connection gave up (the caller gets the same error). */
  timeout: [PoolTimeoutError]
  /** A connection has been held longer than `pool.leakDetectionMs`. */
  leak: [
    {
      /** The connection held. */
      connectionId: number
      /** How long it has been held, in milliseconds. */
      heldMs: number
      /** The stack of the code that acquired it. */
      acquiredAt: string | undefined
    },
  ]
  /** A connection reported by 'leak' was given back after all. */
  leakReturned: [
    {
      /** The connection given back. */
      connectionId: number
      /** How long it was held in all, in milliseconds. */
      heldMs: number
    },
  ]
  /**
   * A connection could not be opened, or an idle one failed; no caller was waiting on it. Also: an
   * attempt to reopen the `db.listen` connection failed, or a `db.listen` callback threw. Without a
   * listener nothing is thrown.
   */
  error: [Error]
  /** A start-up check found something to change (a pool larger than the server can serve); `strict: true` makes it an error. Without a listener it goes to `process.emitWarning`. */
  warning: [ConfigError]
  /** A transaction is about to be re-run after a serialization failure or deadlock, or (on a pool that needs a primary) a server found read-only. */
  retry: [
    {
      /** Which re-run this is: 1 for the first. */
      attempt: number
      /** The backoff before it, in milliseconds. */
      delayMs: number
      /** The failure that caused the re-run. */
      error: unknown
    },
  ]
  /** An afterCommit or afterRollback hook threw; the transaction's outcome stands. */
  hookError: [
    {
      /** Which kind of hook threw. */
      phase: 'afterCommit' | 'afterRollback'
      /** What it threw. */
      error: unknown
    },
  ]
  /** A statement finished. Costs nothing while nobody listens. */
  query: [QueryEvent]
  /**
   * The connection of `db.listen` was opened: at the first listen, and again after each loss.
   * It is not one of the pool's connections and is not counted in `stats()`.
   */
  listenerConnect: [
    {
      /** Its server process id, as `pg_stat_activity.pid` and `pg_backend_pid()` show it. */
      processId: number
      /** The channels listened to on it. */
      channels: string[]
      /** True when it replaces a connection that was lost. */
      reconnected: boolean
    },
  ]
  /** The connection of `db.listen` was lost; it is being opened again, with backoff, for as long as anyone listens. */
  listenerLost: [
    {
      /** Why it was lost (the server's error, or the socket's), when known. */
      error: Error | undefined
      /** The channels that are listened to again once it is back. */
      channels: string[]
    },
  ]
  /**
   * The connection of `db.listen` is back after a loss and every channel is listened to again;
   * notifications sent meanwhile were missed. Emitted just before each listener's `onGap` runs.
   */
  listenerGap: [
    {
      /** The channels that may have missed notifications. */
      channels: string[]
      /** How long the channels were not listened to, in milliseconds. */
      downMs: number
      /** The attempts it took to reconnect (1 when the first one succeeded). */
      attempts: number
      /** Why the connection was lost, when known. */
      error: Error | undefined
    },
  ]
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
