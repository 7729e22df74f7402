/**
 * `createDatabase` and the object it returns: the application's single entry point. One-shot
 * statements borrow a connection per statement; inside a session or transaction callback every
 * statement, `db.query` included, runs on that scope's connection.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { internalsOf, registerInternals } from './database-internals.js'
import { AmbiguousCommitError, MisuseError } from './errors/error-classes.js'
import { ReadRouter, type ReadStats } from './replicas/read-router.js'
import { contextToken, laterToken, parseToken, WRITE_TOKEN_SQL, type WriteMark } from './replicas/write-token.js'
import { StewardPgPool } from './facade/pg-pool-facade.js'
import { abortErrorFrom, isReadOnlyViolation, mapError } from './errors/map-error.js'
import { checkHealth, withReplicas, type HealthReport } from './health.js'
import type { DatabaseOptions, PoolOptions, ResolvedOptions, RetryOptions } from './options/database-options.js'
import { checkCallOptions, SESSION_OPTION_KINDS, STATEMENT_OPTION_KINDS, TRANSACTION_OPTION_KINDS } from './options/scope-options.js'
import { resolveOptions } from './options/validate-options.js'
import type { DatabaseEvents, PoolStats } from './pool/pool-events.js'
import { Pool } from './pool/pool.js'
import type { PooledConnection } from './pool/pooled-connection.js'
import { toQueryResult, type QueryResult } from './query-result.js'
import { QueryableBase } from './queryable-base.js'
import { AbortScope } from './scope/abort-scope.js'
import { openLease } from './scope/borrow.js'
import type { CallSite } from './scope/call-site.js'
import { Lease, type LeaseKind } from './scope/lease.js'
import { runOneShot, type StatementOptions } from './scope/run-statement.js'
import type { ScopeHost } from './scope/scope-host.js'
import type { Session, SessionOptions, Transaction, TransactionOptions } from './scope/scope-types.js'
import { Scope } from './scope/scope.js'
import { runTransaction } from './scope/transaction.js'
import { logSlowStatements } from './observe/slow-statement-log.js'
import { Listener, type ListenOptions } from './listen/listener.js'
import { sql, type CompiledQuery } from './sql.js'

/** A session's or a transaction's callback, run on its lease by `#startOnLease`. */
type ScopeCallback<T> = ((session: Session) => Promise<T>) | ((tx: Transaction) => Promise<T>)
/**
 * Options of `db.read`.
 * @example
 * ```ts
 * const posts = await db.read((tx) => tx.many(sql`select * from posts`), { after: token, timeoutMs: 2_000 })
 * ```
 */
export interface ReadOptions {
  /**
   * A write token from `db.writeToken()`, perhaps of another request (a cookie, a header): the
   * read runs only where that write is visible. Writes made earlier in the same async context
   * are covered without it. A string that is not a token is a `WriteTokenError`. (Default: none)
   */
  after?: string | undefined
  /** Abort the read: cancelled on the server, its connection returned clean. (Default: none) */
  signal?: AbortSignal
  /** Abort after this many milliseconds, as `signal` would. (Default: none) */
  timeoutMs?: number
}

/** Only `createDatabase` (and this package's own entry points) may construct a Database: options must be validated first. */
const CONSTRUCT: unique symbol = Symbol('pgsteward.createDatabase')

/**
 * The validated options in force, as `db.options` shows them, every default filled in: what the
 * database actually does, whatever mix of options, URL and `PG*` variables configured it. The
 * password and TLS key are never included.
 */
export interface PublicOptions {
  /** Shown in `pg_stat_activity.application_name`; also the `pool` label of the metrics. */
  applicationName: string
  /** The servers, in the order they are tried (several with a multi-host URL). */
  hosts: readonly {
    /** A host name or address, or a Unix-socket directory (starting with `/`). */
    host: string
    /** The TCP port, or the socket file's number. */
    port: number
  }[]
  /** The role connections log in as. */
  user: string
  /** The database connections open. */
  database: string
  /** Which kind of server a connection must reach, as libpq's `target_session_attrs`. */
  targetSessionAttrs: string
  /** Server-side `statement_timeout` of every connection; 0: the server's own. */
  statementTimeoutMs: number
  /** Statements each connection keeps prepared; 0: none. */
  statementCacheSize: number
  /** Server-side `lock_timeout`; 0: the server's own. */
  lockTimeoutMs: number
  /** Server-side `idle_in_transaction_session_timeout`; 0: the server's own. */
  idleInTransactionTimeoutMs: number
  /** How long a cancelled statement may take to stop before its connection is destroyed. */
  cancelGraceMs: number
  /** Whether independent one-shot statements may share a busy connection. */
  pipelining: boolean
  /** What sits between pgsteward and PostgreSQL. */
  pooler: 'none' | 'transaction'
  /** When scopes record where they were opened: 'always' or 'after-first-error'. */
  callSites: string
  /** Whether start-up warnings are errors. */
  strict: boolean
  /** Statements at least this slow are logged through `logger`; 0 when slow statements are not logged. */
  slowStatementMs: number
  /** Pool sizing and timing, every field filled in. */
  pool: Readonly<Required<PoolOptions>>
  /** The servers of each replica `db.read` may use, in the order given; empty without replicas. */
  replicas: readonly (readonly {
    /** A host name or address, or a Unix-socket directory. */
    host: string
    /** The TCP port, or the socket file's number. */
    port: number
  }[])[]
  /** Each replica's pool sizing and timing, every field filled in. */
  replicaPool: Readonly<Required<PoolOptions>>
  /** How long `db.read` waits for a standby to catch up before reading from the primary. */
  replicaWaitMs: number
  /** The transaction retry policy, every field filled in. */
  retry: Readonly<Required<RetryOptions>>
}

/**
 * The database handle: pool, scopes, health, stats and events. Create it with
 * {@link createDatabase}; there is one per database (and pool) in an application.
 *
 * `query`, `one`, `maybeOne` and `many` borrow a connection for one statement; called inside a
 * `session` or `transaction` callback, they run on that scope's connection instead.
 * @example
 * ```ts
 * import { createDatabase, sql } from 'pgsteward'
 *
 * const db = createDatabase({ connectionString: process.env.DATABASE_URL })
 * await db.transaction(async (tx) => {
 *   await tx.query(sql`update counters set n = n + 1 where id = ${id}`)
 * })
 * await db.close()
 * ```
 */
export class Database extends QueryableBase {
  readonly #host: ScopeHost
  readonly #pool: Pool
  readonly #als = new AsyncLocalStorage<Scope>()
  readonly #options: ResolvedOptions
  #facade: StewardPgPool | undefined
  #listener: Listener | undefined
  /** target_session_attrs asks for a server that takes writes. */
  readonly #needsPrimary: boolean
  /** With replicas: where `db.read` runs. */
  readonly #router: ReadRouter | undefined
  /** With replicas: what each async context has written, for read-your-writes. */
  readonly #writes = new AsyncLocalStorage<WriteMark>()

  /** @internal Use `createDatabase`, which validates the options first. */
  constructor(token: typeof CONSTRUCT, options: ResolvedOptions) {
    super()
    if (token !== CONSTRUCT) throw new MisuseError('Create a database with createDatabase(options), which validates the options.')
    this.#options = options
    this.#needsPrimary = options.connection.targetSessionAttrs === 'read-write' || options.connection.targetSessionAttrs === 'primary'
    this.#pool = new Pool(options)
    this.#host = {
      als: this.#als,
      pool: this.#pool,
      options,
      runTransaction: (lease, parent, fn, o) => runTransaction(this.#host, lease, parent, fn, o),
      transaction: (fn, o) => this.transaction(fn, o),
    }
    registerInternals(this, { host: this.#host, pool: this.#pool, als: this.#als, options, close: (timeoutMs) => this.close({ timeoutMs }) })
    if (options.replicas.length > 0) {
      internalsOf(this).markWrite = () => {
        const mark = this.#contextMark()
        mark.dirty = true
        return () => {
          mark.dirty = true
        }
      }
      const replicas = options.replicas.map((connection) => {
        const db = new Database(CONSTRUCT, { ...options, connection, pool: options.replicaPool, replicas: [] })
        // A replica that cannot be reached fails the read's wait at once, so the read moves on to the primary.
        internalsOf(db).pool.setConnectFailurePolicy('fail-waiter')
        return { db, server: connection.describe() }
      })
      this.#router = new ReadRouter(replicas, options.replicaWaitMs)
    }
    if (options.logger !== undefined && options.slowStatementMs > 0)
      logSlowStatements(this.#pool, options.logger, options.slowStatementMs, options.applicationName)
  }

  /**
   * The validated options in force, defaults filled in (the password is not included).
   * @example
   * ```ts
   * console.log(`pool of ${db.options.pool.max} to ${db.options.hosts[0]?.host}`)
   * ```
   */
  get options(): PublicOptions {
    const { connection, logger: _logger, replicas, ...rest } = this.#options
    return {
      ...rest,
      pool: { ...rest.pool },
      retry: { ...rest.retry },
      replicas: replicas.map((r) => r.hosts),
      replicaPool: { ...rest.replicaPool },
      hosts: connection.hosts,
      user: connection.user,
      database: connection.database,
      targetSessionAttrs: connection.targetSessionAttrs,
    }
  }

  protected execute<R>(query: CompiledQuery, options: StatementOptions | undefined): Promise<QueryResult<R>> {
    const scope = this.#als.getStore()
    if (scope !== undefined) return scope.runInScope<R>(query, options)
    let run
    try {
      if (options !== undefined) checkCallOptions(options, STATEMENT_OPTION_KINDS, 'db.query')
      run = runOneShot(this.#host, query, options)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    // Mapped in a reaction the caller awaits, so V8's async stack trace puts the caller's frames on the error.
    const mapped = run.then(toQueryResult<R>, (err: unknown) => {
      // A pool that needs a primary met a server demoted since the connection opened: the server refused
      // the statement, so nothing happened; run it once more, on a connection the pool has checked again.
      if (isReadOnlyViolation(err) && this.#needsPrimary) {
        return runOneShot(this.#host, query, options).then(toQueryResult<R>, (again: unknown) => {
          throw mapError(again, query.text)
        })
      }
      throw mapError(err, query.text)
    })
    return this.#router === undefined ? mapped : this.#afterWrite(mapped)
  }

  /**
   * With replicas, work on the primary counts as a write of the caller's async context once it
   * settles (failed work too: a lost COMMIT may have committed). The context's mark is created in
   * the caller's synchronous part (`enterWith`), so the caller's own continuation sees it.
   */
  #afterWrite<T>(work: Promise<T>): Promise<T> {
    const written = this.#contextMark()
    return work.then(
      (value) => {
        written.dirty = true
        return value
      },
      (err: unknown) => {
        written.dirty = true
        throw err
      },
    )
  }

  /**
   * Run `fn` with one connection for its whole length, for work that needs session state
   * (`SET`, temporary tables, session advisory locks). The connection is reset before anyone else
   * borrows it. Inside another scope it joins that scope (no second connection) unless
   * `independent: true`. Not available with `pooler: 'transaction'`.
   * @returns What `fn` returns.
   * @example
   * ```ts
   * const report = await db.session(async (s) => {
   *   await s.query(sql`set work_mem = '256MB'`)
   *   return s.many(sql`select * from monthly_report`)
   * }, { timeoutMs: 30_000 })
   * ```
   */
  session<T>(fn: (session: Session) => Promise<T>, options?: SessionOptions): Promise<T> {
    // Not async, for the same reason as transaction(): misuse rejects, nothing costs a promise more.
    try {
      checkCallOptions(options, SESSION_OPTION_KINDS, 'db.session')
      if (this.#options.pooler === 'transaction') {
        throw new MisuseError(
          "db.session is not available with pooler: 'transaction': behind a transaction-mode pooler consecutive statements may reach different server connections, so a session's state would not last. Use db.transaction, whose statements share one server connection.",
        )
      }
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const current = this.#als.getStore()
    if (current !== undefined && !options?.independent) {
      if (options?.signal !== undefined || options?.timeoutMs !== undefined) {
        return Promise.reject(
          new MisuseError(
            'db.session inside an open scope joins it and cannot take its own signal or timeoutMs: pass independent: true for a separate session.',
          ),
        )
      }
      // Joined: the callback runs in the caller's scope; one that is not async still gives a promise.
      try {
        return Promise.resolve(this.#als.run(current, fn, current))
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)))
      }
    }
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const work = this.#withLease('session', this.#pool.callSites.capture(this.session), options, current, fn)
    return this.#router === undefined ? work : this.#afterWrite(work)
  }

  /**
   * Run `fn` in a transaction: committed if it resolves, rolled back if it throws. Inside a
   * transaction it becomes a savepoint. Re-run whole on serialization failure or deadlock (and,
   * on a pool that needs a primary, once when the server turned out to be read-only: demoted),
   * so keep side effects in `tx.afterCommit`.
   * @returns What `fn` returns, once the transaction has committed.
   * @example
   * ```ts
   * const id = await db.transaction(async (tx) => {
   *   const row = await tx.one<{ id: number }>(sql`insert into orders (total) values (${total}) returning id`)
   *   tx.afterCommit(() => mailer.send(row.id))
   *   return row.id
   * }, { isolation: 'serializable', retry: { max: 5 } })
   *
   * // Lock rows you are about to change (others wait):   select ... for update
   * // Fail fast instead of waiting:                      select ... for update nowait  (LockNotAvailableError)
   * // Work queue, each worker takes different rows:     select ... for update skip locked limit 10
   * ```
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    // Not async: on the hot path every extra async layer is an extra promise (and, with
    // AsyncLocalStorage's hooks on, more than one); misuse still rejects rather than throws.
    try {
      checkCallOptions(options, TRANSACTION_OPTION_KINDS, 'db.transaction')
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const current = this.#als.getStore()
    if (current !== undefined && !options?.independent) return current.transaction(fn, options)
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const site = this.#pool.callSites.capture(this.transaction)
    let work = this.#withLease('transaction', site, options, current, fn)
    if (this.#needsPrimary && options?.readOnly !== true) work = this.#rerunIfDemoted(work, site, options, current, fn)
    return this.#router === undefined || options?.readOnly === true ? work : this.#afterWrite(work)
  }

  /**
   * A pool that needs a primary, a transaction refused with 25006 (read-only): its server was
   * demoted since the connection opened. The server refused the write, so the transaction rolled
   * back and nothing of it happened; the connection is marked and goes (pool.noteStatementFailure).
   * If retries are allowed, it is re-run once, on a connection the pool opens or checks again, as
   * a serialization failure would be (so side effects still belong in `tx.afterCommit`).
   */
  #rerunIfDemoted<T>(
    work: Promise<T>,
    site: CallSite | undefined,
    options: TransactionOptions | undefined,
    holder: Scope | undefined,
    fn: (tx: Transaction) => Promise<T>,
  ): Promise<T> {
    return work.then(undefined, (err: unknown) => {
      const retry = { ...this.#options.retry, ...options?.retry }
      if (!isReadOnlyViolation(err) || retry.max < 1 || options?.signal?.aborted === true) throw err
      this.#pool.counters.retries++
      this.#pool.emit('retry', { attempt: 1, delayMs: 0, error: err })
      return this.#withLease('transaction', site, options, holder, fn)
    })
  }

  /** The write mark of the caller's async context, created (for the caller's own continuation) if missing. */
  #contextMark(): WriteMark {
    let mark = this.#writes.getStore()
    if (mark === undefined) {
      mark = { dirty: false, token: undefined, fetching: undefined }
      this.#writes.enterWith(mark)
    }
    return mark
  }

  /**
   * Run `fn` in a read-only transaction on a standby that has replayed every write it must see:
   * those made earlier in the same async context (a request, a job) through this database, and
   * the one `after` names (a token from `db.writeToken()`, maybe of another request). When no
   * standby has caught up within `replicaWaitMs`, or none can be reached, it runs on the primary:
   * never a stale read of one's own write. Without `replicas` it runs on the primary. `db.query`
   * inside `fn` joins the read. `fn` may run again on the primary if its standby is lost
   * mid-read, so keep side effects out of it. Inside a session or transaction it joins that scope.
   * @returns What `fn` returns.
   * @throws {@link WriteTokenError} when `after` is not a token.
   * @example
   * ```ts
   * await db.transaction((tx) => tx.query(sql`insert into posts (title) values (${title})`))
   * // Same request: sees the new post, on a standby that has replayed it or on the primary.
   * const posts = await db.read((tx) => tx.many(sql`select * from posts order by id desc limit 20`))
   *
   * // Another request: pass the token on (a cookie, a header).
   * const token = await db.writeToken()
   * const later = await db.read((tx) => tx.many(sql`select * from posts`), { after: token })
   * ```
   */
  read<T>(fn: (tx: Transaction) => Promise<T>, options?: ReadOptions): Promise<T> {
    let token: string | undefined
    const txOptions: TransactionOptions = { readOnly: true }
    try {
      const { after, ...rest } = options ?? {}
      checkCallOptions(rest, STATEMENT_OPTION_KINDS, 'db.read')
      if (after !== undefined) {
        parseToken(after, 'The after option of db.read')
        token = after
      }
      if (rest.signal !== undefined) txOptions.signal = rest.signal
      if (rest.timeoutMs !== undefined) txOptions.timeoutMs = rest.timeoutMs
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const current = this.#als.getStore()
    if (current !== undefined) return current.transaction(fn)
    const router = this.#router
    if (router === undefined) return this.transaction(fn, txOptions)
    return contextToken(this.#writes.getStore(), () => this.#currentToken()).then((own) =>
      router.read(fn, {
        signal: txOptions.signal,
        timeoutMs: txOptions.timeoutMs,
        token: laterToken(own, token),
        join: (tx, body) => this.#als.run(tx as Scope, () => body(tx)),
        onPrimary: (body) => this.transaction(body, txOptions),
      }),
    )
  }

  /**
   * A token that covers every transaction committed on the primary so far, this caller's among
   * them: pass it to `db.read(fn, { after })`, in this request or a later one (it is a short
   * string, fit for a cookie or a header), and that read sees those writes. Costs one statement
   * on the primary. Call it after the transaction committed, not inside it.
   * @returns A position in the primary's WAL, such as `16/B374D848`.
   * @example
   * ```ts
   * await db.transaction((tx) => tx.query(sql`update profiles set bio = ${bio} where id = ${id}`))
   * reply.header('x-write-token', await db.writeToken())
   * // the next request: db.read(fn, { after: request.headers['x-write-token'] })
   * ```
   */
  writeToken(): Promise<string> {
    if (this.#als.getStore() !== undefined) {
      return Promise.reject(
        new MisuseError(
          'db.writeToken() inside a session or transaction cannot cover what it has not committed yet: call it after the transaction (or session) has ended.',
        ),
      )
    }
    return this.#currentToken()
  }

  /** The primary's WAL position as a token; a look-up, not a write of the context. */
  #currentToken(): Promise<string> {
    return runOneShot(this.#host, { text: WRITE_TOKEN_SQL, values: [] }, undefined).then(
      (result) => toQueryResult<{ lsn: string }>(result).rows[0]?.lsn as string,
      (err: unknown) => {
        throw mapError(err, WRITE_TOKEN_SQL)
      },
    )
  }

  /**
   * Where `db.read` calls ran: on a standby, or on the primary and why; each replica with its
   * pool's stats. All zero without replicas.
   * @example
   * ```ts
   * const { onReplica, onPrimaryBehind, onPrimaryDown } = db.readStats()
   * ```
   */
  readStats(): ReadStats {
    return this.#router?.stats() ?? { onReplica: 0, onPrimaryBehind: 0, onPrimaryDown: 0, replicas: [] }
  }

  /**
   * Borrow a lease, run `fn` on it, give it back. The common case (no signal or timeout, an idle
   * connection lent at once) costs no promise beyond the body's own: with AsyncLocalStorage's
   * hooks on, each promise costs more again. A caller that has to queue keeps only what waiting
   * needs (the pool's waiter, one closure context with its grant and fail, one promise and its
   * continuation): with ten thousand queued, every closure counts.
   */
  #withLease<T>(
    kind: LeaseKind,
    openedAt: CallSite | undefined,
    options: SessionOptions | TransactionOptions | undefined,
    holder: Scope | undefined,
    fn: ScopeCallback<T>,
  ): Promise<T> {
    const outer = holder?.lease.heldChain ?? []
    if (options?.signal !== undefined || options?.timeoutMs !== undefined) return this.#withGuardedLease(kind, openedAt, options, outer, fn)
    const pool = this.#pool
    const traced = pool.instrumentation.acquire({ kind: 'exclusive' })
    if (pool.states.idle.length === 0) return this.#queueForLease(kind, openedAt, options, outer, fn, traced)
    // Set by a grant or failure that comes before acquire returns; afterwards they go to the promise.
    let early: Lease | Error | undefined
    let resolve: ((lease: Lease) => void) | undefined
    let reject: ((err: Error) => void) | undefined
    pool.acquire(
      { site: openedAt, heldBy: outer },
      (conn) => {
        traced?.({ error: undefined, connectionId: conn.id })
        const lease = new Lease(pool, conn, kind, openedAt, outer)
        if (resolve === undefined) early = lease
        else resolve(lease)
      },
      (err) => {
        traced?.({ error: err, connectionId: undefined })
        if (reject === undefined) early = err
        else reject(err)
      },
    )
    if (early instanceof Lease) return this.#runOnLease(early, fn, options)
    if (early !== undefined) return Promise.reject(early)
    // The callback runs in a continuation of this promise, so in the caller's async context,
    // never inside the pool's release of another caller's connection.
    return new Promise<Lease>((res, rej) => {
      resolve = res
      reject = rej
    }).then((lease) => this.#runOnLease(lease, fn, options))
  }

  /**
   * `#withLease` when nothing is idle and the caller will most likely queue: the promise's own
   * resolving functions are the pool's grant and fail, so a queued caller keeps only the pool's
   * waiter, this promise and its continuation. The lease is built in the continuation, in the
   * caller's async context. (Settling an outer promise from the continuation instead saves two
   * microtasks but costs a promise and its resolving functions per queued caller: about 460 B
   * more each, measured, for no throughput that showed beyond noise.)
   */
  #queueForLease<T>(
    kind: LeaseKind,
    openedAt: CallSite | undefined,
    options: TransactionOptions | undefined,
    outer: readonly PooledConnection[],
    fn: ScopeCallback<T>,
    traced: ReturnType<Pool['instrumentation']['acquire']>,
  ): Promise<T> {
    const pool = this.#pool
    return new Promise<PooledConnection>((resolve, reject) => pool.acquire({ site: openedAt, heldBy: outer }, resolve, reject)).then(
      (conn) => {
        traced?.({ error: undefined, connectionId: conn.id })
        return this.#runOnLease(new Lease(pool, conn, kind, openedAt, outer), fn, options)
      },
      traced === undefined
        ? undefined
        : (err: unknown) => {
            traced({ error: err instanceof Error ? err : new Error(String(err)), connectionId: undefined })
            throw err
          },
    )
  }

  /** A session's scope on its lease; a transaction makes its own (scope/transaction.ts). */
  #sessionScope(lease: Lease): Scope | undefined {
    return lease.kind === 'session' ? new Scope(this.#host, lease, 'session', undefined, lease.openedAt) : undefined
  }

  /**
   * Start `fn` on its lease: a session's callback inside its `scope`, or a whole transaction.
   * Promise.resolve: a callback that is not async still works as it would with await (and a
   * native promise passes through as itself, no promise more).
   */
  #startOnLease<T>(lease: Lease, scope: Scope | undefined, fn: ScopeCallback<T>, options: TransactionOptions | undefined): Promise<T> {
    if (scope !== undefined) return Promise.resolve(this.#als.run(scope, fn as (session: Session) => Promise<T>, scope))
    return runTransaction(this.#host, lease, undefined, fn as (tx: Transaction) => Promise<T>, options)
  }

  /** Run `fn` on its lease and give the lease back once it settled, whatever `fn` returned or threw. */
  #runOnLease<T>(lease: Lease, fn: ScopeCallback<T>, options: TransactionOptions | undefined): Promise<T> {
    let scope: Scope | undefined
    let work: Promise<T>
    try {
      scope = this.#sessionScope(lease)
      work = this.#startOnLease(lease, scope, fn, options)
    } catch (err) {
      work = Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return work.then(
      (value) => {
        scope?.close()
        const deferred = this.#endLease(lease)
        return deferred === undefined ? value : deferred.then(() => value)
      },
      (err: unknown) => {
        scope?.close()
        const deferred = this.#endLease(lease)
        if (deferred === undefined) throw err
        return deferred.then(() => {
          throw err
        })
      },
    )
  }

  async #withGuardedLease<T>(
    kind: LeaseKind,
    openedAt: CallSite | undefined,
    options: SessionOptions | TransactionOptions,
    outer: readonly PooledConnection[],
    fn: ScopeCallback<T>,
  ): Promise<T> {
    const abort = AbortScope.from(options.signal, options.timeoutMs) as AbortScope
    try {
      const lease = await openLease(this.#pool, kind, openedAt, { signal: abort.signal }, outer)
      try {
        return await guard(
          lease,
          (l) => {
            const scope = this.#sessionScope(l)
            const work = this.#startOnLease(l, scope, fn, options)
            return scope === undefined ? work : work.finally(() => scope.close())
          },
          abort.signal,
          this.#options.cancelGraceMs,
        )
      } finally {
        await this.#endLease(lease)
      }
    } finally {
      abort.dispose()
    }
  }

  /** Give the lease's connection back, then run its commit and rollback hooks outside any scope. */
  #endLease(lease: Lease): Promise<void> | undefined {
    lease.release()
    return lease.hasDeferred ? this.#als.exit(() => lease.runDeferred()) : undefined
  }

  /**
   * A `pg.Pool`-compatible object backed by this database's pool, for Kysely, Drizzle and code
   * written for node-postgres. Always the same object for one database. Inside a `db.transaction`
   * callback its queries join the transaction.
   * @example
   * ```ts
   * import { Kysely, PostgresDialect } from 'kysely'
   *
   * const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: db.asPgPool() }) })
   * ```
   */
  asPgPool(): StewardPgPool {
    this.#facade ??= new StewardPgPool(this)
    return this.#facade
  }

  /**
   * A real `SELECT 1` through the pool within `timeoutMs`; never throws. Busy (waiting for a
   * connection) is 'degraded', not 'down'. With `replicas`, each standby is checked too, at the
   * same time, and one that is not ok makes the report 'degraded' (reads then go to the primary).
   * @example
   * ```ts
   * app.get('/health', async (_request, reply) => {
   *   const report = await db.health({ timeoutMs: 1_000 }) // { status: 'ok', latencyMs: 0.8, ... }
   *   return reply.code(report.status === 'down' ? 503 : 200).send(report)
   * })
   * ```
   */
  health(options?: {
    /** How long the check may take before it reports 'down'. (Default: 1000) */
    timeoutMs?: number
  }): Promise<HealthReport> {
    const timeoutMs = options?.timeoutMs ?? 1_000
    const primary = checkHealth(this.#host, timeoutMs)
    if (this.#router === undefined) return primary
    // The standbys at the same time: the whole check still takes about timeoutMs at most.
    return Promise.all([primary, this.#router.health(timeoutMs)]).then(([report, replicas]) => withReplicas(report, replicas))
  }

  /**
   * Gauges, counters and acquire-wait percentiles; synchronous and cheap.
   * @example
   * ```ts
   * const { inUse, waiting, acquireWaitMs } = db.stats()
   * ```
   */
  stats(): PoolStats {
    return this.#pool.stats()
  }

  /**
   * Subscribe to pool events (acquire, release, connect, destroy, timeout, leak, error, ...);
   * {@link DatabaseEvents} lists them with their payloads. A listener that nobody adds costs nothing.
   * @example
   * ```ts
   * db.on('leak', ({ connectionId, acquiredAt }) => log.warn({ connectionId, acquiredAt }, 'connection held too long'))
   * ```
   */
  on<K extends keyof DatabaseEvents>(event: K, listener: (...args: DatabaseEvents[K]) => void): this {
    this.#pool.on(event, listener as never)
    return this
  }

  /**
   * Remove a listener added with `on` or `once`.
   * @example
   * ```ts
   * const onTimeout = (err: PoolTimeoutError) => log.warn(err.message)
   * db.on('timeout', onTimeout)
   * db.off('timeout', onTimeout)
   * ```
   */
  off<K extends keyof DatabaseEvents>(event: K, listener: (...args: DatabaseEvents[K]) => void): this {
    this.#pool.off(event, listener as never)
    return this
  }

  /**
   * Like `on`, for one event only.
   * @example
   * ```ts
   * db.once('connect', ({ connectionId }) => log.info({ connectionId }, 'first connection open'))
   * ```
   */
  once<K extends keyof DatabaseEvents>(event: K, listener: (...args: DatabaseEvents[K]) => void): this {
    this.#pool.once(event, listener as never)
    return this
  }

  /**
   * Call `onNotification` with the payload of every notification sent to `channel` (by
   * `db.notify`, `pg_notify` or `NOTIFY`), until the returned function is called. Resolves once
   * the server has confirmed the LISTEN: a notification committed after that is delivered.
   *
   * All listens of a database share one connection of their own, opened at the first listen and
   * closed after the last unlisten or at `db.close()`; it is not one of the pool's connections.
   * While anyone listens it keeps the process alive. If it is lost (a server restart,
   * `pg_terminate_backend`), it is reopened with backoff and every channel listened to again;
   * then `onGap` runs, because notifications sent meanwhile were missed: read what you have not
   * seen yet from the database there. The `listenerLost`, `listenerGap` and `listenerConnect`
   * events report the same. A callback that throws is reported through the `error` event.
   *
   * `channel` is taken exactly as given (case-sensitive, any characters, at most 63 bytes). Waits
   * up to `pool.acquireTimeoutMs` for the connection, then rejects with `ConnectionError`. Not
   * available with `pooler: 'transaction'` (`MisuseError`): listen through a database that connects
   * directly.
   * @param channel The channel's name, exactly as `db.notify` names it.
   * @param onNotification Called with each notification's payload ('' when it had none).
   * @param options `onGap`, called after a reconnection. (Default: none)
   * @returns A function that stops this listener (the others on the channel keep listening); idempotent.
   * @example
   * ```ts
   * const unlisten = await db.listen('room_changed', (roomId) => void refresh(roomId), {
   *   onGap: () => void refreshAll(), // the connection was lost: catch up from the tables
   * })
   * await db.notify('room_changed', '42') // from any instance; inside a transaction: at commit
   * await unlisten()
   * ```
   */
  listen(channel: string, onNotification: (payload: string) => void, options?: ListenOptions): Promise<() => Promise<void>> {
    try {
      this.#listener ??= new Listener(this.#pool, this.#options)
      return this.#listener.listen(channel, onNotification, options)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /**
   * Open one connection now and run the start-up checks (credentials, server capacity), so a bad
   * configuration stops the application at start rather than on its first request.
   * @example
   * ```ts
   * await db.ready() // rejects with ConnectionError or ConfigError
   * app.listen({ port: 3000 })
   * ```
   */
  async ready(): Promise<void> {
    await this.query(sql`SELECT 1`)
  }

  /**
   * Refuse new work, let lent connections finish until `timeoutMs`, then cancel and cut the rest.
   * The connection of `db.listen` is closed too.
   * @example
   * ```ts
   * process.on('SIGTERM', () => void db.close({ timeoutMs: 10_000 }))
   * ```
   */
  async close(options?: {
    /** How long running work may go on before it is cancelled. (Default: 10000) */
    timeoutMs?: number
  }): Promise<void> {
    const timeoutMs = options?.timeoutMs ?? 10_000
    await Promise.all([this.#pool.close(timeoutMs), this.#listener?.close(), this.#router?.close(timeoutMs)])
    this.#writes.disable()
    // On Node 20 an enabled AsyncLocalStorage keeps a promise hook on for the whole process,
    // slowing every promise; a closed database has no scopes left to track.
    this.#als.disable()
  }
}

/**
 * Settle with the body's outcome, or at once when the signal aborts: the connection goes back to
 * the pool (which cancels the running statement and rolls back) while the body, if still running,
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
 * @param options Where to connect and how to pool; see {@link DatabaseOptions}. (Default: `DATABASE_URL`, then libpq's `PG*` variables)
 * @throws {@link ConfigError} naming every option it cannot honour, each with the fix.
 * @example
 * ```ts
 * import { createDatabase, sql } from 'pgsteward'
 *
 * const db = createDatabase({ connectionString: process.env.DATABASE_URL, pool: { max: 10 } })
 * const user = await db.one(sql`select * from users where id = ${id}`)
 * ```
 */
export function createDatabase(options?: DatabaseOptions): Database {
  return new Database(CONSTRUCT, resolveOptions(options))
}

/** For the pg drop-in's `new Pool(options)`: the same validation, options already translated. */
export function createDatabaseFromResolved(options: ResolvedOptions): Database {
  return new Database(CONSTRUCT, options)
}
