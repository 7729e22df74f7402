/**
 * Sessions, transactions and savepoints as the application sees them: objects bound to one
 * lease and owned by the async scope (AsyncLocalStorage) that opened them.
 *
 * - Used after the callback settled: `SessionClosedError`.
 * - Used from an async scope that is not the owner or inside it: `ConcurrentUseError`.
 * - Concurrent calls inside the owner (Promise.all) go out in call order, pipelined; a savepoint
 *   or nested transaction holds its parent until it finishes, so nothing interleaves with it.
 */
import { ConcurrentUseError, FailedTransactionError, MisuseError, SessionClosedError } from '../errors/error-classes.js'
import { isInFailedTransaction, mapError } from '../errors/map-error.js'
import { checkCallOptions, STATEMENT_OPTION_KINDS, TRANSACTION_OPTION_KINDS } from '../options/scope-options.js'
import { toQueryResult, type QueryResult } from '../query-result.js'
import { QueryableBase } from '../queryable-base.js'
import { sql, type CompiledQuery, type SqlFragment } from '../sql.js'
import type { StatementEffect } from '../wire/statement-effects.js'
import type { DriverSubmittable } from '../wire/submittable-entry.js'
import type { CallSite } from './call-site.js'
import { runHooks, type Hooks } from './hooks.js'
import type { Lease } from './lease.js'
import { runOnLease, type StatementOptions } from './run-statement.js'
import type { ScopeHost } from './scope-host.js'
import type { Transaction, TransactionOptions } from './scope-types.js'

type ScopeKind = 'session' | 'transaction' | 'savepoint'

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

  protected execute<R>(query: CompiledQuery, options: StatementOptions | undefined): Promise<QueryResult<R>> {
    try {
      checkCallOptions(options, STATEMENT_OPTION_KINDS, 'query')
      this.#assertOwned()
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    if (this.#activeChild !== undefined) return this.#executeAfterChild(query, options)
    return this.#run<R>(query, options)
  }

  /** The scope's statements, for the database's own `execute` when called inside this scope. */
  runInScope<R>(query: CompiledQuery, options: StatementOptions | undefined): Promise<QueryResult<R>> {
    return this.execute<R>(query, options)
  }

  async #executeAfterChild<R>(query: CompiledQuery, options: StatementOptions | undefined): Promise<QueryResult<R>> {
    await this.#waitForChild()
    return this.#run<R>(query, options)
  }

  #run<R>(query: CompiledQuery, options: StatementOptions | undefined): Promise<QueryResult<R>> {
    // Reactions, not an async function: one promise fewer per statement (more with AsyncLocalStorage's
    // hooks on). Mapped in a reaction the caller awaits, so the error keeps the caller's async frames.
    return runOnLease(this.lease, query, options).then(toQueryResult<R>, (err: unknown) => {
      this.#host.pool.noteStatementFailure(this.lease.conn, err, this.lease.readOnly)
      throw mapError(err, query.text)
    })
  }

  /**
   * Queue a node-postgres submittable (the facade's query, a cursor, a stream, COPY) on this
   * scope's connection, with the same ownership and ordering rules.
   */
  async submitRaw(submittable: DriverSubmittable, exclusive: boolean, effect: StatementEffect, settled: () => void): Promise<void> {
    this.#assertOwned()
    if (this.#activeChild !== undefined) await this.#waitForChild()
    const refusal = this.lease.refusal()
    if (refusal !== undefined) throw refusal
    this.lease.submit(submittable, exclusive, effect, settled)
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    checkCallOptions(options, TRANSACTION_OPTION_KINDS, 'transaction')
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
    const child = this.kind === 'session' ? this.#host.runTransaction(this.lease, this, fn, options) : this.#savepoint(fn)
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
        throw isInFailedTransaction(err) ? new FailedTransactionError('savepoint') : err
      })
    } catch (err) {
      child.close()
      try {
        await this.#statement(`ROLLBACK TO SAVEPOINT ${name}`)
        await this.#statement(`RELEASE SAVEPOINT ${name}`)
      } catch {
        // Connection lost or scope aborted: the outer transaction fails with it.
      }
      await runHooks(this.#host.pool, 'afterRollback', child.hooks?.rollback ?? [], err)
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
      await this.lease.run(text)
    } catch (err) {
      throw mapError(err, text)
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
