/**
 * One statement with its own `signal` / `timeoutMs` or none, outside a scope (a one-shot that
 * borrows a connection for itself) or on a scope's lease. An abort rejects the caller at once:
 * a statement not yet written is withdrawn and never reaches the server; one in flight is
 * cancelled on the server, which is safe because a statement that can be aborted never shares
 * its connection with another caller. Inside a transaction an aborted statement also dooms the
 * transaction, so nothing it may have done before the cancel landed can commit.
 */
import { statementEnd } from '../pool/statement-end.js'
import { prepareValues } from '../wire/prepare-values.js'
import type { StatementResult } from '../wire/result-builder.js'
import { analyzeStatement } from '../wire/statement-effects.js'
import { Statement, type StatementOutcome } from '../wire/statement.js'
import type { WireConnection } from '../wire/wire-connection.js'
import { AbortScope } from './abort-scope.js'
import { borrowOnce } from './borrow.js'
import type { Lease } from './lease.js'
import type { ScopeHost } from './scope-host.js'
import type { CompiledQuery } from '../sql.js'

/** Per-statement options of `query`, `one`, `maybeOne` and `many`. */
/** Options of a single statement (`query`, `one`, `maybeOne`, `many`). */
export interface StatementOptions {
  /** Aborting cancels the statement on the server and rejects at once. (Default: none) */
  signal?: AbortSignal
  /** Abort after this many milliseconds, as `signal` would. (Default: none; the server's `statement_timeout` still applies) */
  timeoutMs?: number
}

export type DriverResult = StatementResult | StatementResult[]

function resultOf(outcome: StatementOutcome): DriverResult {
  if (outcome.error !== undefined) throw outcome.error
  return outcome.result as DriverResult
}

/** A statement outside any scope: borrowed, run and returned. Rejects with the unmapped error. */
export function runOneShot(host: ScopeHost, query: CompiledQuery, options: StatementOptions | undefined): Promise<DriverResult> {
  return new Promise<DriverResult>((resolve, reject) => {
    const values = prepareValues(query.values, query.text)
    const { effect } = analyzeStatement(query.text)
    const abort = AbortScope.from(options?.signal, options?.timeoutMs)
    const { pool } = host
    const traced = pool.instrumentation.statement({ text: query.text, scope: 'one-shot', via: 'pgsteward' })
    // Only a plain statement that cannot be aborted may share a connection with other callers.
    const shareable = abort === undefined && effect === 'plain' && host.options.pipelining
    borrowOnce(
      pool,
      abort === undefined ? undefined : { signal: abort.signal },
      shareable,
      (conn, giveBack) => {
        const wire = conn.wire as WireConnection
        let settled = false
        const statement = new Statement(
          wire,
          { text: query.text, values, exclusive: abort !== undefined, effect, cache: host.options.statementCacheSize > 0 },
          (outcome) => {
            traced?.(statementEnd(outcome, conn.id))
            if (outcome.error !== undefined) pool.noteStatementFailure(conn, outcome.error, false)
            giveBack()
            if (settled) return
            settled = true
            abort?.dispose()
            if (outcome.error !== undefined) reject(outcome.error)
            else resolve(outcome.result as DriverResult)
          },
        )
        if (abort !== undefined) {
          abort.signal.addEventListener(
            'abort',
            () => {
              if (settled) return
              settled = true
              if (wire.withdraw(statement)) traced?.({ error: abort.signal.reason as Error, rowCount: null, command: undefined, connectionId: conn.id })
              else void wire.cancel(host.options.cancelGraceMs)
              abort.dispose()
              reject(abort.signal.reason as Error)
              // The pool takes it back once the cancelled statement has answered (or destroys it after the grace period).
              giveBack()
            },
            { once: true },
          )
        }
        wire.enqueue(statement)
      },
      (err) => {
        traced?.({ error: err, rowCount: null, command: undefined, connectionId: undefined })
        abort?.dispose()
        reject(err)
      },
    )
  })
}

/** A statement on a scope's lease, in order behind the scope's other statements. Rejects with the unmapped error. */
export function runOnLease(lease: Lease, query: CompiledQuery, options: StatementOptions | undefined): Promise<DriverResult> {
  let values
  try {
    values = prepareValues(query.values, query.text)
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
  const abort = AbortScope.from(options?.signal, options?.timeoutMs)
  const pending = lease.execute({ text: query.text, values, exclusive: abort !== undefined })
  if (abort === undefined) return pending.outcome.then(resultOf)
  return new Promise<DriverResult>((resolve, reject) => {
    let settled = false
    abort.signal.addEventListener(
      'abort',
      () => {
        if (settled) return
        settled = true
        const entry = pending.entry
        if (entry === undefined || !lease.wire.withdraw(entry)) {
          void lease.cancel()
          if (lease.kind === 'transaction') lease.poisoned ??= abort.signal.reason as never
        }
        abort.dispose()
        reject(abort.signal.reason as Error)
      },
      { once: true },
    )
    pending.outcome.then((outcome) => {
      if (settled) return
      settled = true
      abort.dispose()
      if (outcome.error !== undefined) reject(outcome.error)
      else resolve(outcome.result as DriverResult)
    }, reject)
  })
}
