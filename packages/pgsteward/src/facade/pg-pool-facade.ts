/**
 * `db.asPgPool()`: an object that behaves as `pg.Pool` does for code written against it (Kysely,
 * Drizzle, legacy code), backed by pgsteward's pool, so that code gets bounded waits, validation,
 * leak detection, pipelining and clean release without a rewrite.
 *
 * Inside a `db.transaction` (or `db.session`) callback, `query` and `connect` join the scope:
 * they run on its connection, and the transactions Kysely and Drizzle open there become savepoints.
 * Differences from pg.Pool that stay on purpose are listed in the README, each with its reason.
 */
import { EventEmitter } from 'node:events'
import pg from 'pg'
import { internalsOf, type DatabaseInternals } from '../database-internals.js'
import { ConnectionError, PoolClosedError } from '../errors/error-classes.js'
import type { SlotState } from '../pool/pooled-connection.js'
import type { PooledConnection } from '../pool/pooled-connection.js'
import { submittableEnd } from '../pool/statement-end.js'
import { borrowLease, borrowOnce } from '../scope/borrow.js'
import type { CallSite } from '../scope/call-site.js'
import type { Lease } from '../scope/lease.js'
import type { StatementEffect } from '../wire/statement-effects.js'
import { SubmittableEntry, type DriverSubmittable } from '../wire/submittable-entry.js'
import type { WireConnection } from '../wire/wire-connection.js'
import { deliverError } from './deliver-error.js'
import { driverQuery, submittableEffect } from './driver-query.js'
import { joinedTransactionLink, refuseInTransaction } from './joined-transaction.js'
import { StewardPgClient, connectionTerminated, runConfig, type ClientLink, type ClientSettings } from './pg-client-facade.js'
import { asError, callBack, parsePgQueryArguments, settle, type PgCallback } from './pg-query-arguments.js'

/** node-postgres's callback for `pool.connect(callback)`: the client and its release function, or the error. */
type ConnectCallback = (err: Error | undefined, client?: StewardPgClient, done?: (err?: Error | boolean) => void) => void

/** pg.Pool's `options`, with the real connection settings: code that builds its own client from them (Kysely's query cancellation) reaches the same server. */
export interface FacadePoolOptions extends pg.PoolConfig {
  /** The pool's `max`. */
  max: number
  /** The pool's `min`. */
  min: number
  /** Always `Infinity`: connections are recycled by lifetime, not by use count. */
  maxUses: number
  /** Always `true`: idle connections never keep the process alive. */
  allowExitOnIdle: boolean
  /** The pool's `maxLifetimeMs`, in seconds. */
  maxLifetimeSeconds: number
  /** The pool's `idleTimeoutMs`. */
  idleTimeoutMillis: number
  /** The pool's `acquireTimeoutMs`. */
  connectionTimeoutMillis: number
  /** node-postgres's `binary`: whether queries ask for binary results. */
  binary: boolean
  /** Whether statements on one connection go out without waiting for the previous answer (the database's `pipelining`). */
  pipeline: boolean
}

/** How a facade behaves where pg.Pool's defaults and pgsteward's differ. */
export interface FacadeSettings {
  /** node-postgres's `binary`: every query asks for binary results where node-postgres has a parser for them. */
  binary?: boolean
}

function leaseLink(lease: Lease, written: (() => void) | undefined): ClientLink {
  return {
    wire: lease.wire,
    joined: false,
    submit: (query, exclusive, effect, settled) => {
      const refusal = lease.refusal()
      if (refusal !== undefined) throw refusal
      lease.submit(query, exclusive, effect, written === undefined ? settled : () => (written(), settled()))
    },
    translate: (text) => text,
    release: (destroy) => {
      written?.()
      lease.release(destroy)
    },
  }
}

/** What node-postgres would have reported: the driver's own error (ECONNREFUSED, the server's FATAL), not pgsteward's wrapper of it. */
function asDriverError(err: unknown): Error {
  if (err instanceof ConnectionError && err.cause instanceof Error) return err.cause
  return asError(err)
}

/**
 * A `pg.Pool` as far as code written for node-postgres can tell, over a pgsteward database: what
 * `db.asPgPool()` returns and what `Pool` from `pgsteward/pg` extends. Events: 'connect', 'acquire',
 * 'release', 'remove' and 'error', as pg.Pool emits them.
 * @example
 * ```ts
 * import { drizzle } from 'drizzle-orm/node-postgres'
 *
 * const orm = drizzle(db.asPgPool())
 * ```
 */
// The class name contains "Pool": Drizzle recognises a pool by it and checks a client out for transactions.
export class StewardPgPool extends EventEmitter {
  readonly #db: DatabaseInternals
  /** One client object per connection, so events and checkouts name the same object for the same connection. */
  readonly #clients = new WeakMap<PooledConnection, StewardPgClient>()
  readonly #connOf = new WeakMap<StewardPgClient, PooledConnection>()
  readonly #byWire = new WeakMap<WireConnection, StewardPgClient>()
  readonly #byId = new Map<number, StewardPgClient>()
  readonly #settings: ClientSettings
  #ending = false
  #ended = false
  /** Connections asked for through the facade and not yet lent or refused: `end()` lets them finish first. */
  #pending = 0
  #whenNonePending: (() => void)[] = []

  /**
   * node-postgres's `Client` class: Kysely builds its control connection (to cancel a query)
   * from `pool.Client` and `pool.options`.
   */
  readonly Client = pg.Client

  constructor(db: object, settings: FacadeSettings = {}) {
    super()
    this.#db = internalsOf(db)
    this.#settings = { binary: settings.binary === true, pipeline: this.#db.options.pipelining }
    const pool = this.#db.pool
    pool.on('connect', ({ connectionId }) => {
      // Every connection gets its client object now, so 'remove' and 'error' can name it even if only pool.query used it.
      const client = this.#clientById(connectionId)
      if (client !== undefined && this.listenerCount('connect') > 0) this.emit('connect', client)
    })
    pool.on('destroy', ({ connectionId }) => {
      const client = this.#byId.get(connectionId)
      this.#byId.delete(connectionId)
      if (client !== undefined) this.emit('remove', client)
    })
    pool.setConnectionLostListener((wire, err, state) => this.#onConnectionLost(wire, err, state))
    pool.setWireListeners({
      notification: (wire, message) => this.#byWire.get(wire)?.emit('notification', message),
      notice: (wire, message) => this.#byWire.get(wire)?.emit('notice', message),
    })
  }

  #clientById(connectionId: number): StewardPgClient | undefined {
    for (const conn of this.#db.pool.states.all()) if (conn.id === connectionId) return this.#clientFor(conn)
    return undefined
  }

  #clientFor(conn: PooledConnection): StewardPgClient {
    let client = this.#clients.get(conn)
    if (client === undefined) {
      client = new StewardPgClient(
        (c, err) => this.emit('release', err, c),
        this.#settings,
        (c, err) => this.#onIdleClientError(c, err),
      )
      this.#clients.set(conn, client)
      this.#connOf.set(client, conn)
      this.#byId.set(conn.id, client)
      if (conn.wire !== undefined) {
        client.attach(conn.wire)
        this.#byWire.set(conn.wire, client)
      }
    }
    return client
  }

  /**
   * A connection's socket closed or broke. As with node-postgres: a checked-out client's own
   * `error` listeners hear of it; a connection nobody holds (idle, or still being cleaned after
   * its release) is removed and the pool emits `error` with the client. The error is the
   * server's (a FATAL) or the socket's for an idle connection, node-postgres's
   * "Connection terminated unexpectedly" when work was in flight or the socket just closed.
   */
  #onConnectionLost(wire: WireConnection, err: Error | undefined, state: SlotState): void {
    const client = this.#byWire.get(wire)
    if (client === undefined) return
    if (client.endRequested) {
      // Closed by client.end(): no error; an idle one leaves the pool now.
      const conn = this.#connOf.get(client)
      if (conn !== undefined) this.#db.pool.discard(conn)
    } else if (client.checkedOut) client.connectionLost(err ?? connectionTerminated())
    else if (state === 'resetting' || (state === 'idle' && client.releasedBusy)) client.connectionLost(connectionTerminated(err))
    else if (state === 'idle') client.connectionLost(err ?? connectionTerminated())
    client.emit('end')
  }

  /** An error on a client nobody holds (its connection broke, or code emitted one on it): remove it, then tell the pool's listeners. */
  #onIdleClientError(client: StewardPgClient, err: Error): void {
    // Not enumerable: an error logged as JSON would otherwise drag the client along.
    Object.defineProperty(err, 'client', { value: client, enumerable: false, configurable: true, writable: true })
    const conn = this.#connOf.get(client)
    if (conn !== undefined) this.#db.pool.discard(conn)
    // node-postgres's pool throws when nobody listens; pgsteward never lets an idle connection crash the process.
    if (this.listenerCount('error') > 0) this.emit('error', err, client)
  }

  /**
   * pg-pool's (private) list of its clients, which monitoring code and tests read: here the
   * client of every open connection, a snapshot.
   */
  get _clients(): StewardPgClient[] {
    const clients: StewardPgClient[] = []
    for (const conn of this.#db.pool.states.all()) if (conn.wire !== undefined && !conn.wire.closed) clients.push(this.#clientFor(conn))
    return clients
  }

  /** Open connections, as pg.Pool's `totalCount`. */
  get totalCount(): number {
    return this.#db.pool.snapshot().total
  }

  /** Idle connections, as pg.Pool's `idleCount`. */
  get idleCount(): number {
    return this.#db.pool.snapshot().idle
  }

  /** Callers queued for a connection, as pg.Pool's `waitingCount`. */
  get waitingCount(): number {
    return this.#db.pool.snapshot().waiting
  }

  /** Connections past their lifetime, closed when next returned, as pg.Pool's `expiredCount`. */
  get expiredCount(): number {
    return this.#db.pool.expiredCount()
  }

  /** Whether `end()` has been called. */
  get ending(): boolean {
    return this.#ending
  }

  /** Whether `end()` has finished. */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * pg.Pool's options as far as they have a pgsteward meaning, with the connection settings of
   * the server the pool is using. The password is there but not enumerable, so it never reaches
   * a log or a spread by accident.
   */
  get options(): FacadePoolOptions {
    const o = this.#db.options
    const settings = o.connection
    const address = this.#currentAddress() ?? settings.hosts[0]
    const options: FacadePoolOptions = {
      host: address?.host,
      port: address?.port,
      user: settings.user,
      database: settings.database,
      application_name: o.applicationName,
      max: o.pool.max,
      min: o.pool.min,
      maxUses: Infinity,
      allowExitOnIdle: true,
      idleTimeoutMillis: o.pool.idleTimeoutMs,
      connectionTimeoutMillis: o.pool.acquireTimeoutMs,
      maxLifetimeSeconds: o.pool.maxLifetimeMs / 1000,
      binary: this.#settings.binary,
      pipeline: this.#settings.pipeline,
      keepAlive: true,
      keepAliveInitialDelayMillis: settings.keepAliveInitialDelayMs,
    }
    if (o.statementTimeoutMs > 0) options.statement_timeout = o.statementTimeoutMs
    if (settings.startupParameters.options !== undefined) options.options = settings.startupParameters.options
    if (settings.tls.attempt === 'require') options.ssl = settings.tls.options
    Object.defineProperty(options, 'password', { value: settings.passwordSource(), enumerable: false })
    return options
  }

  #currentAddress(): { host: string; port: number } | undefined {
    for (const conn of this.#db.pool.states.all()) if (conn.wire !== undefined && !conn.wire.closed) return conn.wire.address
    return undefined
  }

  // ------------------------------------------------------------------ pending work, for end()

  #startPending(): () => void {
    this.#pending++
    let done = false
    return () => {
      if (done) return
      done = true
      if (--this.#pending === 0) for (const resolve of this.#whenNonePending.splice(0)) resolve()
    }
  }

  #nonePending(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.#whenNonePending.push(resolve))
  }

  // ------------------------------------------------------------------ connect

  /**
   * Check a client out, as pg.Pool's `connect`: it keeps one connection until `client.release()`.
   * Inside a `db.transaction` callback the client joins that transaction instead.
   * @example
   * ```ts
   * const client = await pool.connect()
   * try {
   *   await client.query('BEGIN')
   *   await client.query('UPDATE accounts SET balance = balance - $1 WHERE id = $2', [amount, from])
   *   await client.query('COMMIT')
   * } finally {
   *   client.release()
   * }
   * ```
   */
  connect(): Promise<StewardPgClient>
  /**
   * Check a client out, node-postgres's callback style.
   * @example
   * ```ts
   * pool.connect((err, client, done) => {
   *   if (err || !client) return console.error(err)
   *   client.query('SELECT 1', () => done?.())
   * })
   * ```
   */
  connect(callback: ConnectCallback): undefined
  connect(callback?: ConnectCallback): Promise<StewardPgClient> | undefined {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const site = this.#db.pool.callSites.capture(StewardPgPool.prototype.connect)
    const checkedOut = new Promise<StewardPgClient>((resolve, reject) => this.#checkOut(site, resolve, reject))
    if (callback === undefined) return checkedOut
    checkedOut.then(
      (client) => callBack(callback, undefined, client, client.release),
      // pg-pool hands a failed checkout a release function too, which does nothing.
      (err: unknown) => callBack(callback, asError(err), undefined, () => undefined),
    )
    return undefined
  }

  #checkOut(site: CallSite | undefined, resolve: (client: StewardPgClient) => void, reject: (err: unknown) => void): void {
    if (this.#ending) return reject(new PoolClosedError())
    const scope = this.#db.als.getStore()
    if (scope !== undefined) {
      // Inside a scope: the scope's own connection, not a second one (see joined-transaction.ts).
      const client = new StewardPgClient(() => undefined, this.#settings)
      const link: ClientLink =
        scope.kind === 'session'
          ? { wire: scope.lease.wire, joined: true, submit: (q, e, f, s) => scope.submitRaw(q, e, f, s), translate: (t) => t, release: () => undefined }
          : joinedTransactionLink(scope)
      client.checkOut(link)
      return resolve(client)
    }
    const settled = this.#startPending()
    // With replicas, a checked-out client's statements are writes of this context for db.read.
    const written = this.#db.markWrite?.()
    borrowLease(
      this.#db.pool,
      'checkout',
      site,
      undefined,
      [],
      (lease) => {
        settled()
        const client = this.#clientFor(lease.conn)
        client.checkOut(leaseLink(lease, written))
        this.emit('acquire', client)
        resolve(client)
      },
      (err) => {
        settled()
        reject(asDriverError(err))
      },
    )
  }

  // ------------------------------------------------------------------ query

  /**
   * node-postgres's `query`, with its overloads: text or config, values, callback, or a submittable
   * (pg-cursor, pg-query-stream). Borrows a connection for the one statement; inside a
   * `db.transaction` callback, runs in that transaction.
   * @example
   * ```ts
   * const { rows } = await pool.query<{ id: number }>('SELECT id FROM users WHERE email = $1', [email])
   * ```
   */
  query = ((first: unknown, second?: unknown, third?: unknown): unknown => this.#query(first, second, third)) as pg.Pool['query']

  #query(first: unknown, second: unknown, third: unknown): unknown {
    let args
    try {
      args = parsePgQueryArguments(first, second, third, this.#settings.binary)
    } catch (err) {
      // pg-pool answers bad arguments through the callback when there is one.
      const callback = [first, second, third].find((a) => typeof a === 'function') as PgCallback | undefined
      return settle(Promise.reject(asError(err)), callback)
    }
    const scope = this.#db.als.getStore()
    const text = args.kind === 'submittable' ? args.text : args.config.text
    const refusal = scope !== undefined && scope.kind !== 'session' ? refuseInTransaction(text) : undefined
    if (args.kind === 'submittable') {
      const submittable = args.submittable as unknown as DriverSubmittable
      if (refusal !== undefined) throw refusal
      const effect = submittableEffect(args.text)
      if (scope !== undefined) scope.submitRaw(submittable, true, effect, () => undefined).catch((err: unknown) => deliverError(submittable, err))
      else if (this.#ending) deliverError(submittable, new PoolClosedError())
      else this.#oneShot(submittable, true, effect, (err) => deliverError(submittable, err))
      return args.submittable
    }
    if (refusal !== undefined) return settle(Promise.reject(refusal), args.callback)
    if (scope !== undefined) return runConfig({ submit: (q, e, f, s) => scope.submitRaw(q, e, f, s) }, args.config, args.callback)
    if (this.#ending) return settle(Promise.reject(new PoolClosedError()), args.callback)
    let built
    try {
      built = driverQuery(args.config, args.callback)
    } catch (err) {
      return settle(Promise.reject(asError(err)), args.callback)
    }
    this.#oneShot(built.query, built.exclusive, built.effect, (err) => deliverError(built.query, err))
    return built.result
  }

  /** A query outside any scope: borrowed, run, returned when the server has answered it, as pg-pool's `query` does with a client of its own. */
  #oneShot(query: DriverSubmittable, exclusive: boolean, effect: StatementEffect, fail: (err: unknown) => void): void {
    const shareable = !exclusive && effect === 'plain' && this.#db.options.pipelining
    const traced = this.#db.pool.instrumentation.statement({ text: query.text ?? '', scope: 'one-shot', via: 'pg-facade' })
    const lent = this.#startPending()
    const written = this.#db.markWrite?.()
    borrowOnce(
      this.#db.pool,
      undefined,
      shareable,
      (conn, giveBack) => {
        lent()
        const client = this.#clientFor(conn)
        this.emit('acquire', client)
        const wire = conn.wire as WireConnection
        wire.enqueue(
          new SubmittableEntry(wire, query, exclusive, effect, {
            settled: (_status, error, tag) => {
              written?.()
              traced?.(submittableEnd(error, tag, conn.id))
              giveBack()
              this.emit('release', undefined, client)
            },
          }),
        )
      },
      (err) => {
        lent()
        written?.()
        traced?.({ error: err, rowCount: null, command: undefined, connectionId: undefined })
        fail(asDriverError(err))
      },
    )
  }

  // ------------------------------------------------------------------ end

  /**
   * Drain and close the underlying database (pg.Pool's `end`): nothing new is accepted, what was
   * already asked for (queries and checkouts waiting for a connection) is served and finishes
   * first, then every connection closes once it is returned.
   * @example
   * ```ts
   * process.on('SIGTERM', () => void pool.end())
   * ```
   */
  end(): Promise<void>
  /**
   * Drain and close, node-postgres's callback style.
   * @example
   * ```ts
   * pool.end((err) => { if (err) console.error(err) })
   * ```
   */
  end(callback: (err?: Error) => void): undefined
  end(callback?: (err?: Error) => void): Promise<void> | undefined {
    if (this.#ending) {
      const err = new Error('Called end on pool more than once')
      if (callback === undefined) return Promise.reject(err)
      process.nextTick(() => callBack(callback, err))
      return undefined
    }
    this.#ending = true
    const closed = this.#nonePending()
      .then(() => this.#db.close())
      .then(() => {
        this.#ended = true
      })
    if (callback === undefined) return closed
    closed.then(
      () => callBack(callback),
      (err: unknown) => callBack(callback, asError(err)),
    )
    return undefined
  }
}
