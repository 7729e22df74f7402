/**
 * `createDatabase` and the object it returns: the application's single entry point. One-shot
 * queries borrow a connection per statement; inside a session or transaction callback every
 * query, `db.query` included, runs on that scope's connection.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type pg from 'pg'
import { AbortScope } from './abort-scope.js'
import type { CallSite } from './call-site.js'
import { resolveOptions, type DatabaseOptions, type ResolvedOptions, type RetryOptions } from './config.js'
import { AmbiguousCommitError, MisuseError, abortErrorFrom, mapDriverError } from './errors.js'
import { checkHealth, type HealthReport } from './health.js'
import { Lease } from './lease.js'
import { StewardPgPool } from './pg-pool-facade.js'
import { Pool, type DatabaseEvents, type PoolStats } from './pool.js'
import { serverErrorState, type DriverResult, type PooledConnection } from './pooled-connection.js'
import { toQueryResult, type QueryResult } from './query-result.js'
import { QueryableBase } from './queryable-base.js'
import { Scope, type ScopeHost, type Session, type SessionOptions, type Transaction, type TransactionOptions } from './scope.js'
import { runTransaction } from './transaction.js'
import { sql, type CompiledQuery } from './sql.js'

type Listener<K extends keyof DatabaseEvents> = (...args: DatabaseEvents[K]) => void

const SCOPE_OPTION_KEYS = new Set(['signal', 'timeoutMs', 'independent', 'isolation', 'readOnly', 'deferrable', 'retry'])

function checkScopeOptions(options: TransactionOptions | undefined, allowed: ReadonlySet<string>, where: string): void {
  if (options === undefined) return
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw new MisuseError(`Unknown option ${key} for ${where}. Valid options: ${[...allowed].join(', ')}.`)
  }
  const { timeoutMs } = options
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new MisuseError(`timeoutMs for ${where} must be a positive integer number of milliseconds, got ${String(timeoutMs)}.`)
  }
}

const SESSION_KEYS = new Set(['signal', 'timeoutMs', 'independent'])

function buildClientConfig(options: ResolvedOptions): pg.ClientConfig {
  const c = options.connection
  const config: pg.ClientConfig = {
    application_name: options.applicationName,
    connectionTimeoutMillis: options.pool.connectTimeoutMs,
    keepAlive: true,
  }
  if (c.connectionString !== undefined) config.connectionString = c.connectionString
  if (c.host !== undefined) config.host = c.host
  if (c.port !== undefined) config.port = c.port
  if (c.user !== undefined) config.user = c.user
  if (c.password !== undefined) config.password = c.password
  if (c.database !== undefined) config.database = c.database
  if (c.ssl !== undefined) config.ssl = c.ssl
  if (options.statementTimeoutMs > 0) config.statement_timeout = options.statementTimeoutMs
  if (options.lockTimeoutMs > 0) config.lock_timeout = options.lockTimeoutMs
  if (options.idleInTransactionTimeoutMs > 0) config.idle_in_transaction_session_timeout = options.idleInTransactionTimeoutMs
  return config
}

/** The database handle: pool, scopes, health, stats and events. Create it with `createDatabase`. */
export class Database extends QueryableBase implements ScopeHost {
  readonly als = new AsyncLocalStorage<Scope>()
  readonly pool: Pool
  readonly retryDefaults: Required<RetryOptions>
  readonly #options: ResolvedOptions
  #facade: StewardPgPool | undefined

  constructor(options: ResolvedOptions) {
    super()
    this.#options = options
    this.retryDefaults = options.retry
    this.pool = new Pool(options, buildClientConfig(options))
  }

  /** The validated options in force (the password is not included). */
  get options(): Omit<ResolvedOptions, 'connection'> & { connection: Omit<ResolvedOptions['connection'], 'password'> } {
    const { password: _password, ...connection } = this.#options.connection
    return { ...this.#options, connection }
  }

  execute<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const scope = this.als.getStore()
    if (scope !== undefined) return scope.execute<R>(query)
    // One promise for borrowing, running and giving back: callbacks underneath.
    const outcome = new Promise<QueryResult<R>>((resolve, reject) => {
      const conn = this.pool.acquireNow()
      if (conn !== undefined) this.#sendOn(conn, query, resolve, reject)
      else this.pool.acquireWith(undefined, (waited) => this.#sendOn(waited, query, resolve, reject), reject)
    })
    // Mapped in a reaction the caller awaits, so V8's async stack trace puts the caller's frames on the error.
    return outcome.catch((err: unknown) => {
      throw mapDriverError(err, query.text)
    })
  }

  /** One statement on a borrowed connection, given back before the outcome is reported. */
  #sendOn<R>(conn: PooledConnection, { text, values }: CompiledQuery, resolve: (result: QueryResult<R>) => void, reject: (err: unknown) => void): void {
    conn.send({ text, values }, (err, result) => {
      if (err === undefined) {
        this.pool.release(conn)
        resolve(toQueryResult<R>(result as DriverResult))
        return
      }
      if (serverErrorState(err) === undefined) {
        // Failed before or without the server's answer (a value that cannot be serialised, a lost
        // socket): no ReadyForQuery is coming. The pool cancels, resets or destroys what is left.
        this.pool.release(conn)
        reject(err)
        return
      }
      // A server error arrives before its ReadyForQuery: give the connection back once that came,
      // so a connection finishing the statement is not taken for a busy one and reset.
      void conn.whenQuiet(this.#options.cancelGraceMs).then(() => {
        this.pool.release(conn)
        reject(err)
      })
    })
  }

  /**
   * Run `fn` with one connection for its whole length. Inside another scope it joins that scope
   * (no second connection) unless `independent: true`.
   * @example
   * await db.session(async (s) => {
   *   await s.query(sql`set local work_mem = '64MB'`)
   * }, { timeoutMs: 5_000 })
   */
  async session<T>(fn: (session: Session) => Promise<T>, options?: SessionOptions): Promise<T> {
    checkScopeOptions(options, SESSION_KEYS, 'db.session')
    const current = this.als.getStore()
    if (current !== undefined && !options?.independent) {
      if (options?.signal !== undefined || options?.timeoutMs !== undefined) {
        throw new MisuseError('db.session inside an open scope joins it and cannot take its own signal or timeoutMs: pass independent: true for a separate session.')
      }
      return this.als.run(current, () => fn(current))
    }
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    return this.#withLease('session', this.pool.callSites.capture(this.session), options, current, (lease) => {
      const scope = new Scope(this, lease, 'session', undefined, lease.openedAt)
      return this.als.run(scope, () => fn(scope)).finally(() => scope.close())
    })
  }

  /**
   * Run `fn` in a transaction: committed if it resolves, rolled back if it throws. Inside a
   * transaction it becomes a savepoint. Re-run whole on serialization failure or deadlock,
   * so keep side effects in `tx.afterCommit`.
   * @example
   * const id = await db.transaction(async (tx) => {
   *   const row = await tx.one<{ id: number }>(sql`insert into orders (total) values (${total}) returning id`)
   *   tx.afterCommit(() => mailer.send(row.id))
   *   return row.id
   * }, { isolation: 'serializable', retry: { max: 5 } })
   *
   * // Lock rows you are about to change (others wait):   select ... for update
   * // Fail fast instead of waiting:                      select ... for update nowait  (LockNotAvailableError)
   * // Work queue, each worker takes different rows:     select ... for update skip locked limit 10
   * // Keep a parent row from being deleted meanwhile:   select ... for share
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    // Not async: on the hot path every extra async layer is an extra promise (and, with
    // AsyncLocalStorage's hooks on, more than one); misuse still rejects rather than throws.
    try {
      checkScopeOptions(options, SCOPE_OPTION_KEYS, 'db.transaction')
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const current = this.als.getStore()
    if (current !== undefined && !options?.independent) return current.transaction(fn, options)
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    return this.#withLease('transaction', this.pool.callSites.capture(this.transaction), options, current, (lease) => runTransaction(this, lease, undefined, fn, options))
  }

  #withLease<T>(
    kind: 'session' | 'transaction',
    openedAt: CallSite | undefined,
    options: SessionOptions | undefined,
    holder: Scope | undefined,
    body: (lease: Lease) => Promise<T>,
  ): Promise<T> {
    // The common case, an idle connection and no signal or timeout, in promise reactions
    // rather than an async function: with AsyncLocalStorage's hooks on, each await costs a promise more.
    const conn = options?.signal === undefined && options?.timeoutMs === undefined ? this.pool.acquireNow(openedAt) : undefined
    if (conn === undefined) return this.#withLeaseWaiting(kind, openedAt, options, holder, body)
    const lease = new Lease(this.pool, conn, kind, openedAt)
    let work: Promise<T>
    try {
      work = body(lease)
    } catch (err) {
      work = Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return work.then(
      (value) => {
        const deferred = this.#endLease(lease)
        return deferred === undefined ? value : deferred.then(() => value)
      },
      (err: unknown) => {
        const deferred = this.#endLease(lease)
        if (deferred === undefined) throw err
        return deferred.then(() => {
          throw err
        })
      },
    )
  }

  async #withLeaseWaiting<T>(
    kind: 'session' | 'transaction',
    openedAt: CallSite | undefined,
    options: SessionOptions | undefined,
    holder: Scope | undefined,
    body: (lease: Lease) => Promise<T>,
  ): Promise<T> {
    const abort = AbortScope.from(options?.signal, options?.timeoutMs)
    try {
      const conn = await this.pool.acquire({ signal: abort?.signal, site: openedAt, holder: holder?.lease.conn })
      const lease = new Lease(this.pool, conn, kind, openedAt)
      try {
        return abort === undefined ? await body(lease) : await guard(lease, body, abort.signal, this.#options.cancelGraceMs)
      } finally {
        await this.#endLease(lease)
      }
    } finally {
      abort?.dispose()
    }
  }

  /** Give the lease's connection back, then run its commit and rollback hooks outside any scope. */
  #endLease(lease: Lease): Promise<void> | undefined {
    lease.release()
    return lease.hasDeferred ? this.als.exit(() => lease.runDeferred()) : undefined
  }

  /**
   * A `pg.Pool`-compatible object backed by this database's pool, for Kysely, Drizzle and code
   * written for node-postgres. Always the same object for one database.
   * @example
   * const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: db.asPgPool() }) })
   */
  asPgPool(): StewardPgPool {
    this.#facade ??= new StewardPgPool(this)
    return this.#facade
  }

  /** A real `SELECT 1` through the pool within `timeoutMs`; never throws. */
  health(options?: { timeoutMs?: number }): Promise<HealthReport> {
    return checkHealth(this.pool, options?.timeoutMs ?? 1_000)
  }

  /** Gauges, counters and acquire-wait percentiles; synchronous and cheap. */
  stats(): PoolStats {
    return this.pool.stats()
  }

  on<K extends keyof DatabaseEvents>(event: K, listener: Listener<K>): this {
    this.pool.on(event, listener as never)
    return this
  }

  off<K extends keyof DatabaseEvents>(event: K, listener: Listener<K>): this {
    this.pool.off(event, listener as never)
    return this
  }

  once<K extends keyof DatabaseEvents>(event: K, listener: Listener<K>): this {
    this.pool.once(event, listener as never)
    return this
  }

  /**
   * Open one connection now and run the start-up checks (credentials, server capacity), so a bad
   * configuration stops the application at start rather than on its first request.
   */
  async ready(): Promise<void> {
    await this.session(async (s) => {
      await s.query(sql`SELECT 1`)
    })
  }

  /** Refuse new work, let lent connections finish until `timeoutMs`, then cancel and cut the rest. */
  async close(options?: { timeoutMs?: number }): Promise<void> {
    await this.pool.close(options?.timeoutMs ?? 10_000)
    // On Node 20 an enabled AsyncLocalStorage keeps a promise hook on for the whole process,
    // slowing every promise; a closed database has no scopes left to track.
    this.als.disable()
  }
}

/**
 * Settle with the body's outcome, or at once when the signal aborts: the connection goes back to
 * the pool (which cancels the running query and rolls back) while the body, if still running,
 * meets the abort error at its next statement. An abort during COMMIT waits up to the grace
 * period for the server's answer; without one the outcome is ambiguous.
 */
function guard<T>(lease: Lease, body: (lease: Lease) => Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    let commitTimer: NodeJS.Timeout | undefined
    const finish = (ok: boolean, value: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(commitTimer)
      signal.removeEventListener('abort', onAbort)
      lease.release()
      if (ok) resolve(value as T)
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the body's own rejection reason, passed on unchanged
      else reject(value)
    }
    const onAbort = (): void => {
      if (lease.committed) return
      const err = abortErrorFrom(signal.reason)
      lease.abortError = err
      if (lease.committing) {
        commitTimer = setTimeout(() => finish(false, new AmbiguousCommitError(err)), graceMs)
        return
      }
      finish(false, err)
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    body(lease).then(
      (value) => finish(true, value),
      (err: unknown) => finish(false, err),
    )
  })
}

/**
 * Validate `options` (throwing `ConfigError` listing every problem) and return a database handle.
 * No connection is opened until the first query, `ready()` or `pool.min` asks for one.
 * @example
 * const db = createDatabase({ connectionString: process.env.DATABASE_URL, pool: { max: 10 } })
 * const user = await db.one(sql`select * from users where id = ${id}`)
 */
export function createDatabase(options?: DatabaseOptions): Database {
  return new Database(resolveOptions(options))
}
