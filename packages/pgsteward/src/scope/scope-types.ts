/** The public shapes of sessions, transactions and their options. */
import type { QueryResult, Row } from '../query-result.js'
import type { Statement } from '../sql.js'
import type { RetryOptions } from '../options/database-options.js'
import type { StatementOptions } from './run-statement.js'

export type { StatementOptions } from './run-statement.js'

/** PostgreSQL's transaction isolation levels ('read uncommitted' behaves as 'read committed' there, so it is not offered). */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable'

/** Options of `db.session`. */
export interface SessionOptions {
  /** Aborting cancels the running statement on the server, rolls back and returns the connection. (Default: none) */
  signal?: AbortSignal
  /** Abort after this many milliseconds, as `signal` would. (Default: none) */
  timeoutMs?: number
  /**
   * Take a second connection on purpose instead of joining the current scope's. Fails at once
   * with `PoolDeadlockError` when this chain of scopes already holds every connection of the pool.
   * (Default: false)
   */
  independent?: boolean
}

/** Options of `db.transaction`. */
export interface TransactionOptions extends SessionOptions {
  /** (Default: the server's, normally 'read committed') */
  isolation?: IsolationLevel
  /** (Default: the server's, normally false) */
  readOnly?: boolean
  /** Only with serializable and readOnly. (Default: false) */
  deferrable?: boolean
  /** Re-run the whole callback on serialization failure or deadlock. (Default: the database's `retry`) */
  retry?: RetryOptions
}

/** What every scope, and the database itself, can run. */
export interface Queryable {
  /**
   * Run a statement; inside a scope it runs on the scope's connection.
   * @example const { rows } = await db.query(sql`select * from users where team = ${team}`, { timeoutMs: 2_000 })
   */
  query<R = Row>(statement: Statement, options?: StatementOptions): Promise<QueryResult<R>>
  /**
   * Exactly one row, else `NoRowsError` / `TooManyRowsError`.
   * @example const user = await db.one<{ id: number }>(sql`select id from users where email = ${email}`)
   */
  one<R = Row>(statement: Statement, options?: StatementOptions): Promise<R>
  /**
   * Zero or one row (`null` for none), else `TooManyRowsError`.
   * @example const maybe = await db.maybeOne(sql`select * from users where id = ${id}`)
   */
  maybeOne<R = Row>(statement: Statement, options?: StatementOptions): Promise<R | null>
  /**
   * One row or more, else `NoRowsError`.
   * @example const rows = await db.many(sql`select * from orders where user_id = ${id}`)
   */
  many<R = Row>(statement: Statement, options?: StatementOptions): Promise<R[]>
  /**
   * Send a notification to everyone listening on `channel` (`pg_notify`, parameterised; the
   * channel is taken exactly as given). Inside a transaction it is delivered at commit, and not
   * at all on rollback. A payload over 7,999 bytes is refused with `NotificationPayloadError`
   * before anything is sent: send an id and let listeners read the rest.
   * @example await tx.notify('room_changed', String(roomId))
   */
  notify(channel: string, payload?: string): Promise<void>
}

/** One connection for the length of a callback. */
export interface Session extends Queryable {
  /**
   * A transaction on this session's connection (a savepoint when one is already open).
   * @example await s.transaction(async (tx) => { await tx.query(sql`...`) })
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>
}

/** A transaction or savepoint. */
export interface Transaction extends Session {
  /**
   * Run `fn` once, after the outermost transaction committed. A throwing hook never undoes the commit.
   * @example tx.afterCommit(() => mailer.send(orderId))
   */
  afterCommit(fn: () => unknown): void
  /**
   * Run `fn` after this transaction (or savepoint) rolled back, on every rollback including retries.
   * @example tx.afterRollback((err) => metrics.failed.inc())
   */
  afterRollback(fn: (error: unknown) => unknown): void
  /**
   * Wait for a transaction-scoped advisory lock on `key` (released at commit or rollback).
   * @example await tx.advisoryLock(`project:${id}`) // serialise work on one project
   */
  advisoryLock(key: string | number | bigint): Promise<void>
  /**
   * Take the transaction-scoped advisory lock if free; `false` if someone holds it.
   * @example if (!(await tx.tryAdvisoryLock('nightly-job'))) return
   */
  tryAdvisoryLock(key: string | number | bigint): Promise<boolean>
}
