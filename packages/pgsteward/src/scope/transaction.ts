/**
 * Transactions: BEGIN sent with the first statement, COMMIT whose outcome is reported truthfully
 * (ambiguous only when COMMIT left and its answer never came), whole-callback retries on
 * serialization failure and deadlock, and commit/rollback hooks.
 */
import { AmbiguousCommitError, FailedTransactionError } from '../errors/error-classes.js'
import { breaksConnection, isRetryableTransactionError, mapError } from '../errors/map-error.js'
import { runHooks, type Hooks } from './hooks.js'
import type { Lease } from './lease.js'
import type { ScopeHost } from './scope-host.js'
import { Scope } from './scope.js'
import type { Transaction, TransactionOptions } from './scope-types.js'

/** BEGIN with the requested characteristics (validated by the option checks before this). */
function beginStatement(options: TransactionOptions | undefined): string {
  let text = 'BEGIN'
  if (options?.isolation !== undefined) text += ` ISOLATION LEVEL ${options.isolation.toUpperCase()}`
  if (options?.readOnly !== undefined) text += options.readOnly ? ' READ ONLY' : ' READ WRITE'
  if (options?.deferrable !== undefined) text += options.deferrable ? ' DEFERRABLE' : ' NOT DEFERRABLE'
  return text
}

/**
 * A top-level transaction on a lease, re-run as a whole on serialization failure or deadlock
 * with jittered exponential backoff. Hooks of failed attempts are discarded (afterCommit) or run
 * (afterRollback); afterCommit hooks run once, after the final commit.
 */
export function runTransaction<T>(
  host: ScopeHost,
  lease: Lease,
  parent: Scope | undefined,
  fn: (tx: Transaction) => Promise<T>,
  options: TransactionOptions | undefined,
): Promise<T> {
  lease.readOnly = options?.readOnly === true
  return attemptWithRetries(host, lease, parent, fn, options, beginStatement(options), 0)
}

/** Not async: the first attempt, nearly always the only one, costs no extra promise layer. */
function attemptWithRetries<T>(
  host: ScopeHost,
  lease: Lease,
  parent: Scope | undefined,
  fn: (tx: Transaction) => Promise<T>,
  options: TransactionOptions | undefined,
  begin: string,
  n: number,
): Promise<T> {
  const traced = host.pool.instrumentation.transaction({
    isolation: options?.isolation,
    readOnly: options?.readOnly === true,
    attempt: n + 1,
    connectionId: lease.conn.id,
  })
  const scopeBefore = lease.traceScope
  lease.traceScope = 'transaction'
  return attemptTransaction(host, lease, parent, fn, begin).then(
    (result) => {
      lease.traceScope = scopeBefore
      traced?.({ error: undefined, committed: true, willRetry: false })
      return result
    },
    async (err: unknown) => {
      lease.traceScope = scopeBefore
      const retry = { ...host.options.retry, ...options?.retry }
      const willRetry = isRetryableTransactionError(err) && n < retry.max && lease.abortError === undefined && !lease.released
      traced?.({ error: err, committed: false, willRetry })
      if (!willRetry) throw err
      const delayMs = Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** n)
      host.pool.counters.retries++
      host.pool.emit('retry', { attempt: n + 1, delayMs, error: err })
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      return attemptWithRetries(host, lease, parent, fn, options, begin, n + 1)
    },
  )
}

/**
 * One attempt. Written as promise reactions rather than an async function: with
 * AsyncLocalStorage's hooks on (they are, inside a transaction), each await costs a promise more.
 */
function attemptTransaction<T>(host: ScopeHost, lease: Lease, parent: Scope | undefined, fn: (tx: Transaction) => Promise<T>, begin: string): Promise<T> {
  // BEGIN goes out with the first statement (one round trip fewer). A transaction that never
  // ran a statement never reached the server: nothing to commit or roll back.
  lease.beginWithNextStatement(begin)
  lease.poisoned = undefined
  const tx = new Scope(host, lease, 'transaction', parent, lease.openedAt)
  const hooks = tx.hooks ?? { commit: [], rollback: [] }
  let body: Promise<T>
  try {
    // Promise.resolve: a callback that is not async still works as it would with await.
    const instrumentation = host.pool.instrumentation
    body = Promise.resolve(host.als.run(tx, instrumentation.active ? () => instrumentation.insideTransaction(lease.conn.id, () => fn(tx)) : () => fn(tx)))
  } catch (err) {
    body = Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
  return body.then(
    (result) => {
      tx.close()
      if (lease.poisoned !== undefined) return rollBackAfter(host, lease, parent, hooks, lease.poisoned)
      if (!lease.dropUnsentBegin()) return commit(host, lease, parent, hooks, result)
      if (parent === undefined) lease.committed = true
      return afterCommit(host, lease, parent, hooks, result)
    },
    (err: unknown) => {
      tx.close()
      return rollBackAfter(host, lease, parent, hooks, err)
    },
  )
}

/** The callback failed: roll back (unless nothing reached the server), run the rollback hooks, fail with its error. */
async function rollBackAfter(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks, err: unknown): Promise<never> {
  if (!lease.dropUnsentBegin() && !lease.released && lease.abortError === undefined) {
    // A failed ROLLBACK leaves the transaction open or the connection gone: the pool sees which when it takes it back.
    await lease.run('ROLLBACK').catch(() => undefined)
  }
  await afterTransaction(lease, parent, hooks.rollback, () => runHooks(host.pool, 'afterRollback', hooks.rollback, err))
  throw err
}

/** COMMIT, reporting its outcome truthfully: committed (then `result`), rolled back instead, or unknown. */
function commit<T>(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks, result: T): Promise<T> {
  lease.committing = true
  return lease.execute({ text: 'COMMIT', values: undefined }).outcome.then((outcome) => {
    lease.committing = false
    if (outcome.error === undefined) {
      const answer = Array.isArray(outcome.result) ? outcome.result[0] : outcome.result
      // COMMIT of a transaction PostgreSQL had already aborted answers ROLLBACK, not an error.
      if (answer?.command === 'ROLLBACK') return rolledBackAtCommit(host, lease, parent, hooks)
      // Past this point a top-level transaction's outcome is final; an abort can no longer change it.
      if (parent === undefined) lease.committed = true
      return afterCommit(host, lease, parent, hooks, result)
    }
    const err = mapError(outcome.error, 'COMMIT')
    if (breaksConnection(outcome.error)) {
      // The server may have committed only if COMMIT left this process and the transaction could write.
      if (outcome.written && !lease.readOnly) throw new AmbiguousCommitError(err)
      throw err
    }
    // The server answered with an error, so nothing was committed.
    return Promise.resolve(afterTransaction(lease, parent, hooks.rollback, () => runHooks(host.pool, 'afterRollback', hooks.rollback, err))).then(() => {
      throw err
    })
  })
}

function afterCommit<T>(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks, result: T): T | Promise<T> {
  if (hooks.commit.length === 0) return result
  const ran = afterTransaction(lease, parent, hooks.commit, () => runHooks(host.pool, 'afterCommit', hooks.commit, undefined))
  return ran === undefined ? result : ran.then(() => result)
}

async function rolledBackAtCommit(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks): Promise<never> {
  const failed = new FailedTransactionError('transaction')
  await afterTransaction(lease, parent, hooks.rollback, () => runHooks(host.pool, 'afterRollback', hooks.rollback, failed))
  throw failed
}

/**
 * Hooks of a transaction that owns its connection run after the connection is returned, so a
 * hook that queries the database takes a connection of its own instead of holding two. Inside a
 * session they run at once, on the session's connection.
 */
function afterTransaction(lease: Lease, parent: Scope | undefined, hooks: readonly unknown[], work: () => Promise<void>): Promise<void> | undefined {
  if (hooks.length === 0) return undefined
  return parent === undefined ? lease.defer(work) : work()
}
