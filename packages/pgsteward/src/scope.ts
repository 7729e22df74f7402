/**
 * Sessions, transactions and savepoints as the application sees them: objects bound to one
 * connection and owned by the async scope (AsyncLocalStorage) that opened them.
 *
 * - Used after the callback settled: `SessionClosedError`.
 * - Used from an async scope that is not the owner or inside it: `ConcurrentUseError`.
 * - Concurrent calls inside the owner (Promise.all) run one after another in call order; a
 *   savepoint or nested transaction holds its parent until it finishes, so nothing interleaves.
 */
import type { AsyncLocalStorage } from 'node:async_hooks'
import type { RetryOptions } from './config.js'
import { ConcurrentUseError, FailedTransactionError, MisuseError, SessionClosedError, mapDriverError } from './errors.js'
import type pg from 'pg'
import type { CallSite } from './call-site.js'
import type { Lease } from './lease.js'
import type { Pool } from './pool.js'
import type { DriverResult } from './pooled-connection.js'
import { toQueryResult, type QueryResult, type Row } from './query-result.js'
import { QueryableBase } from './queryable-base.js'
import { sql, type CompiledQuery, type SqlFragment, type UnsafeSql } from './sql.js'
import { runHooks, runTransaction } from './transaction.js'

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable'

/** Options of `db.session`. */
export interface SessionOptions {
  /** Aborting cancels the running query on the server, rolls back and returns the connection. */
  signal?: AbortSignal
  /** Abort after this many milliseconds, as `signal` would. */
  timeoutMs?: number
  /**
   * Take a second connection on purpose instead of joining the current scope's. Fails at once
   * with `PoolDeadlockError` when the pool has none free, rather than waiting on itself.
   */
  independent?: boolean
}

/** Options of `db.transaction`. */
export interface TransactionOptions extends SessionOptions {
  /** (Default: the server's, normally 'read committed') */
  isolation?: IsolationLevel
  readOnly?: boolean
  deferrable?: boolean
  /** Re-run the whole callback on serialization failure or deadlock. (Default: the database's `retry`) */
  retry?: RetryOptions
}

export type Statement = SqlFragment | UnsafeSql

/** What every scope, and the database itself, can run. */
export interface Queryable {
  /** Run a statement; inside a scope it runs on the scope's connection. */
  query<R = Row>(statement: Statement): Promise<QueryResult<R>>
  /** Exactly one row, else `NoRowsError` / `TooManyRowsError`. */
  one<R = Row>(statement: Statement): Promise<R>
  /** Zero or one row (`null` for none), else `TooManyRowsError`. */
  maybeOne<R = Row>(statement: Statement): Promise<R | null>
  /** One row or more, else `NoRowsError`. */
  many<R = Row>(statement: Statement): Promise<R[]>
}

/** One connection for the length of a callback. */
export interface Session extends Queryable {
  /** A transaction on this session's connection (a savepoint when one is already open). */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>
}

/** A transaction or savepoint. */
export interface Transaction extends Session {
  /** Run `fn` once, after the outermost transaction committed. A throwing hook never undoes the commit. */
  afterCommit(fn: () => unknown): void
  /** Run `fn` after this transaction (or savepoint) rolled back, on every rollback including retries. */
  afterRollback(fn: (error: unknown) => unknown): void
  /**
   * Wait for a transaction-scoped advisory lock on `key` (released at commit or rollback).
   * @example await tx.advisoryLock(`project:${id}`) // serialise work on one project
   */
  advisoryLock(key: string | number | bigint): Promise<void>
  /** Take the transaction-scoped advisory lock if free; `false` if someone holds it. */
  tryAdvisoryLock(key: string | number | bigint): Promise<boolean>
}

/** What a scope needs from the database that opened it. */
export interface ScopeHost {
  readonly als: AsyncLocalStorage<Scope>
  readonly pool: Pool
  readonly retryDefaults: Required<RetryOptions>
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>
}

type ScopeKind = 'session' | 'transaction' | 'savepoint'

export interface Hooks {
  commit: (() => unknown)[]
  rollback: ((error: unknown) => unknown)[]
}

let savepointCounter = 0
const NESTED_FORBIDDEN = ['isolation', 'readOnly', 'deferrable', 'signal', 'timeoutMs', 'retry'] as const

export class Scope extends QueryableBase implements Transaction {
  readonly #host: ScopeHost
  readonly lease: Lease
  readonly kind: ScopeKind
  readonly parent: Scope | undefined
  readonly openedAt: CallSite | undefined
  readonly #hooks: Hooks | undefined
  #closed = false
  #activeChild: Promise<unknown> | undefined

  constructor(host: ScopeHost, lease: Lease, kind: ScopeKind, parent: Scope | undefined, openedAt: CallSite | undefined) {
    super()
    this.#host = host
    this.lease = lease
    this.kind = kind
    this.parent = parent
    this.openedAt = openedAt
    this.#hooks = kind === 'session' ? undefined : { commit: [], rollback: [] }
  }

  close(): void {
    this.#closed = true
  }

  get hooks(): Hooks | undefined {
    return this.#hooks
  }

  /** Throws unless the caller may use this scope now. */
  #assertOwned(): void {
    const noun = this.kind === 'session' ? 'session' : 'transaction'
    if (this.#closed) {
      this.#host.pool.callSites.startRecording()
      throw new SessionClosedError(noun, this.openedAt?.stack)
    }
    if (this.lease.abortError) throw this.lease.abortError
    const current = this.#host.als.getStore()
    for (let s = current; s !== undefined; s = s.parent) if (s === this) return
    this.#host.pool.callSites.startRecording()
    throw new ConcurrentUseError(noun, this.openedAt?.stack, new Error('used here').stack)
  }

  /** Calls made by the owner itself wait while one of its savepoints (or its transaction) runs. */
  async #waitForChild(): Promise<void> {
    if (this.#host.als.getStore() !== this) return
    while (this.#activeChild !== undefined) await this.#activeChild.catch(() => undefined)
  }

  execute<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      this.#assertOwned()
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    if (this.#activeChild !== undefined) return this.#executeAfterChild(query)
    return this.#run<R>(query)
  }

  async #executeAfterChild<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    await this.#waitForChild()
    return this.#run<R>(query)
  }

  #run<R>({ text, values }: CompiledQuery): Promise<QueryResult<R>> {
    // Reactions, not an async function: one promise fewer per statement (more with AsyncLocalStorage's
    // hooks on). Mapped in a reaction the caller awaits, so the error keeps the caller's async frames.
    return this.lease.run({ text, values }).then(toQueryResult<R>, (err: unknown) => {
      throw mapDriverError(err, text)
    })
  }

  /**
   * Run a node-postgres query config as is (rowMode, types, name), with the same ownership and
   * ordering rules, returning node-postgres's own result. For adapters such as the pg.Pool facade.
   */
  async runRaw(config: pg.QueryConfig): Promise<DriverResult> {
    this.#assertOwned()
    if (this.#activeChild !== undefined) await this.#waitForChild()
    return this.lease.run(config)
  }

  /** Queue a node-postgres submittable (cursor, stream) on this scope's connection. */
  submitRaw<T extends pg.Submittable>(submittable: T, text: string): T {
    this.#assertOwned()
    return this.lease.submit(submittable, text)
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    if (options?.independent) return this.#host.transaction(fn, options)
    this.#assertOwned()
    if (this.kind !== 'session') {
      const given = NESTED_FORBIDDEN.filter((k) => options?.[k] !== undefined)
      if (given.length > 0) {
        throw new MisuseError(
          `A transaction opened inside another one is a savepoint and cannot take ${given.join(', ')}. ` +
            'Set them on the outermost transaction, or pass independent: true for a separate transaction on its own connection.',
        )
      }
    }
    const owner = this.#host.als.getStore() === this
    if (owner) await this.#waitForChild()
    const child = this.kind === 'session' ? runTransaction(this.#host, this.lease, this, fn, options) : this.#savepoint(fn)
    if (!owner) return child
    this.#activeChild = child
    try {
      return await child
    } finally {
      if (this.#activeChild === child) this.#activeChild = undefined
    }
  }

  async #savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const name = `pgsteward_sp_${++savepointCounter}`
    await this.#statement(`SAVEPOINT ${name}`)
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const child = new Scope(this.#host, this.lease, 'savepoint', this, this.#host.pool.callSites.capture(Scope.prototype.transaction))
    let result: T
    try {
      result = await this.#host.als.run(child, () => fn(child))
      await this.#statement(`RELEASE SAVEPOINT ${name}`).catch((err: unknown) => {
        // 25P02: a statement inside failed and the callback swallowed its error.
        throw (err as { sqlState?: string }).sqlState === '25P02' ? new FailedTransactionError('savepoint') : err
      })
    } catch (err) {
      child.close()
      try {
        await this.#statement(`ROLLBACK TO SAVEPOINT ${name}`)
        await this.#statement(`RELEASE SAVEPOINT ${name}`)
      } catch {
        // Connection lost or scope aborted: the outer transaction fails with it.
      }
      await runHooks(this.#host, 'afterRollback', child.hooks?.rollback ?? [], err)
      throw err
    }
    child.close()
    // The savepoint's work now stands or falls with this transaction.
    this.#hooks?.commit.push(...(child.hooks?.commit ?? []))
    this.#hooks?.rollback.push(...(child.hooks?.rollback ?? []))
    return result
  }

  async #statement(text: string): Promise<void> {
    try {
      await this.lease.run({ text })
    } catch (err) {
      throw mapDriverError(err, text)
    }
  }

  afterCommit(fn: () => unknown): void {
    this.#assertOwned()
    if (!this.#hooks) throw new MisuseError('afterCommit needs a transaction: call it on the object db.transaction passes to its callback.')
    this.#hooks.commit.push(fn)
  }

  afterRollback(fn: (error: unknown) => unknown): void {
    this.#assertOwned()
    if (!this.#hooks) throw new MisuseError('afterRollback needs a transaction: call it on the object db.transaction passes to its callback.')
    this.#hooks.rollback.push(fn)
  }

  async advisoryLock(key: string | number | bigint): Promise<void> {
    await this.query(advisoryLockStatement(this, 'pg_advisory_xact_lock', key))
  }

  async tryAdvisoryLock(key: string | number | bigint): Promise<boolean> {
    const row = await this.one<{ locked: boolean }>(advisoryLockStatement(this, 'pg_try_advisory_xact_lock', key))
    return row.locked
  }
}

function advisoryLockStatement(scope: Scope, fn: string, key: string | number | bigint): SqlFragment {
  if (scope.kind === 'session') {
    throw new MisuseError('Advisory locks here are transaction-scoped: take them inside db.transaction, where commit or rollback releases them.')
  }
  // Strings hash server-side to the 64-bit key space; integers are used as they are.
  if (typeof key === 'string') return sql`SELECT ${sql.unsafe(fn)}(hashtextextended(${key}, 0)) AS locked`
  if (typeof key === 'bigint' || Number.isSafeInteger(key)) return sql`SELECT ${sql.unsafe(fn)}(${BigInt(key).toString()}::bigint) AS locked`
  throw new MisuseError('An advisory lock key must be a string, a safe integer or a bigint.')
}
