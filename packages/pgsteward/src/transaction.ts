/**
 * Transactions: BEGIN sent with the first statement, COMMIT whose outcome is reported truthfully
 * (ambiguous when the connection died under it), rollback that destroys the connection if it
 * fails, whole-callback retries on serialization failure and deadlock, and commit/rollback hooks.
 */
import {
  AmbiguousCommitError,
  FailedTransactionError,
  MisuseError,
  isConnectionFatal,
  isRetryableTransactionError,
  mapDriverError,
} from './errors.js'
import type { Lease } from './lease.js'
import { Scope, type Hooks, type ScopeHost, type Transaction, type TransactionOptions } from './scope.js'

/** BEGIN with the requested characteristics; validated so a typo is an error, not a default. */
function beginStatement(options: TransactionOptions | undefined): string {
  let text = 'BEGIN'
  const isolation = options?.isolation
  if (isolation !== undefined) {
    if (isolation !== 'read committed' && isolation !== 'repeatable read' && isolation !== 'serializable') {
      throw new MisuseError(`isolation must be 'read committed', 'repeatable read' or 'serializable', got ${JSON.stringify(isolation)}.`)
    }
    text += ` ISOLATION LEVEL ${isolation.toUpperCase()}`
  }
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
  let begin: string
  try {
    begin = beginStatement(options)
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
  return attemptWithRetries(host, lease, parent, fn, options, begin, 0)
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
  return attemptTransaction(host, lease, parent, fn, begin).catch(async (err: unknown) => {
    const retry = { ...host.retryDefaults, ...options?.retry }
    if (!isRetryableTransactionError(err) || n >= retry.max || lease.abortError !== undefined || lease.released) throw err
    const delayMs = Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** n)
    host.pool.counters.retries++
    host.pool.emit('retry', { attempt: n + 1, delayMs, error: err })
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    return attemptWithRetries(host, lease, parent, fn, options, begin, n + 1)
  })
}

/**
 * One attempt. Written as promise reactions rather than an async function: with
 * AsyncLocalStorage's hooks on (they are, inside a transaction), each await costs a promise more.
 */
function attemptTransaction<T>(
  host: ScopeHost,
  lease: Lease,
  parent: Scope | undefined,
  fn: (tx: Transaction) => Promise<T>,
  begin: string,
): Promise<T> {
  // BEGIN goes out with the first statement (one round trip fewer). A transaction that never
  // ran a statement never reached the server: nothing to commit or roll back.
  lease.beginWithNextStatement(begin)
  const tx = new Scope(host, lease, 'transaction', parent, lease.openedAt)
  const hooks = tx.hooks ?? { commit: [], rollback: [] }
  let body: Promise<T>
  try {
    // Promise.resolve: a callback that is not async still works as it would with await.
    body = Promise.resolve(host.als.run(tx, () => fn(tx)))
  } catch (err) {
    body = Promise.reject(err instanceof Error ? err : new Error(String(err)))
  }
  return body.then(
    (result) => {
      tx.close()
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
  if (!lease.dropUnsentBegin()) await rollback(lease)
  await afterTransaction(lease, parent, hooks.rollback, () => runHooks(host, 'afterRollback', hooks.rollback, err))
  throw err
}

/** COMMIT, reporting its outcome truthfully: committed (then `result`), rolled back instead, or unknown. */
function commit<T>(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks, result: T): Promise<T> {
  lease.committing = true
  return lease.run({ text: 'COMMIT' }).then(
    (outcome) => {
      lease.committing = false
      // COMMIT of a transaction PostgreSQL had already aborted answers ROLLBACK, not an error.
      if (!Array.isArray(outcome) && outcome.command === 'ROLLBACK') return rolledBackAtCommit(host, lease, parent, hooks)
      // Past this point a top-level transaction's outcome is final; an abort can no longer change it.
      if (parent === undefined) lease.committed = true
      return afterCommit(host, lease, parent, hooks, result)
    },
    (raw: unknown) => {
      lease.committing = false
      return commitFailed(host, lease, parent, hooks, raw)
    },
  )
}

function afterCommit<T>(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks, result: T): T | Promise<T> {
  if (hooks.commit.length === 0) return result
  const ran = afterTransaction(lease, parent, hooks.commit, () => runHooks(host, 'afterCommit', hooks.commit, undefined))
  return ran === undefined ? result : ran.then(() => result)
}

async function rolledBackAtCommit(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks): Promise<never> {
  const failed = new FailedTransactionError('transaction')
  await afterTransaction(lease, parent, hooks.rollback, () => runHooks(host, 'afterRollback', hooks.rollback, failed))
  throw failed
}

async function commitFailed(host: ScopeHost, lease: Lease, parent: Scope | undefined, hooks: Hooks, raw: unknown): Promise<never> {
  const err = mapDriverError(raw, 'COMMIT')
  const sqlState = (err as { sqlState?: string }).sqlState
  // The server never answered: the commit may have happened. Say so; never retry it.
  if (lease.conn.broken || isConnectionFatal(sqlState)) throw new AmbiguousCommitError(err)
  if (!lease.abortError) {
    // The server answered with an error, so nothing was committed; the connection is not trusted again.
    lease.conn.markBroken(err)
    await afterTransaction(lease, parent, hooks.rollback, () => runHooks(host, 'afterRollback', hooks.rollback, err))
  }
  throw err
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

/** Roll back; if that fails the connection's state is unknown and the pool must destroy it. */
async function rollback(lease: Lease): Promise<void> {
  if (lease.released || lease.abortError) return // the pool rolls back what an aborted lease left behind
  try {
    await lease.run({ text: 'ROLLBACK' })
  } catch (err) {
    lease.conn.markBroken(err)
  }
}

export async function runHooks(
  host: ScopeHost,
  phase: 'afterCommit' | 'afterRollback',
  hooks: readonly ((error: unknown) => unknown)[],
  error: unknown,
): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook(error)
    } catch (hookError) {
      // A hook never changes the transaction's outcome; its failure is reported, not thrown.
      host.pool.counters.hookErrors++
      if (host.pool.listenerCount('hookError') > 0) host.pool.emit('hookError', { phase, error: hookError })
      else process.emitWarning(`pgsteward: an ${phase} hook threw: ${String(hookError)}`, 'PgStewardWarning')
      if (typeof error === 'object' && error !== null) {
        const carrier = error as { hookErrors?: unknown[] }
        try {
          carrier.hookErrors = [...(carrier.hookErrors ?? []), hookError]
        } catch {
          // A frozen error cannot carry it; the event above still reported it.
        }
      }
    }
  }
}
