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
import { PoolClosedError } from '../errors/error-classes.js'
import type { PooledConnection } from '../pool/pooled-connection.js'
import { borrowLease, borrowOnce } from '../scope/borrow.js'
import type { CallSite } from '../scope/call-site.js'
import type { Lease } from '../scope/lease.js'
import type { StatementEffect } from '../wire/statement-effects.js'
import { SubmittableEntry, type DriverSubmittable } from '../wire/submittable-entry.js'
import type { WireConnection } from '../wire/wire-connection.js'
import { deliverError } from './deliver-error.js'
import { driverQuery, submittableEffect } from './driver-query.js'
import { joinedTransactionLink } from './joined-transaction.js'
import { StewardPgClient, runConfig, type ClientLink } from './pg-client-facade.js'
import { parsePgQueryArguments, settle, type PgCallback } from './pg-query-arguments.js'

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
}

function leaseLink(lease: Lease): ClientLink {
  return {
    wire: lease.wire,
    submit: (query, exclusive, effect, settled) => {
      const refusal = lease.refusal()
      if (refusal !== undefined) throw refusal
      lease.submit(query, exclusive, effect, settled)
    },
    translate: (text) => text,
    release: (destroy) => lease.release(destroy),
  }
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
  readonly #byWire = new WeakMap<WireConnection, StewardPgClient>()
  readonly #byId = new Map<number, StewardPgClient>()
  #ending = false
  #ended = false

  /**
   * node-postgres's `Client` class: Kysely builds its control connection (to cancel a query)
   * from `pool.Client` and `pool.options`.
   */
  readonly Client = pg.Client

  /** node-postgres's `binary`: every query asks for binary results where node-postgres has a parser for them. */
  readonly #binary: boolean

  constructor(db: object, binary = false) {
    super()
    this.#db = internalsOf(db)
    this.#binary = binary
    const pool = this.#db.pool
    pool.on('connect', ({ connectionId }) => {
      if (this.listenerCount('connect') === 0) return
      this.emit('connect', this.#clientById(connectionId))
    })
    pool.on('destroy', ({ connectionId }) => {
      const client = this.#byId.get(connectionId)
      this.#byId.delete(connectionId)
      if (client !== undefined) this.emit('remove', client)
    })
    pool.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err, undefined)
    })
    pool.setWireListeners({
      notification: (wire, message) => this.#byWire.get(wire)?.emit('notification', message),
      notice: (wire, message) => this.#byWire.get(wire)?.emit('notice', message),
    })
  }

  #clientById(connectionId: number): StewardPgClient {
    for (const conn of this.#db.pool.states.all()) if (conn.id === connectionId) return this.#clientFor(conn)
    return new StewardPgClient((c, err) => this.emit('release', err, c), this.#binary)
  }

  #clientFor(conn: PooledConnection): StewardPgClient {
    let client = this.#clients.get(conn)
    if (client === undefined) {
      client = new StewardPgClient((c, err) => this.emit('release', err, c), this.#binary)
      this.#clients.set(conn, client)
      this.#byId.set(conn.id, client)
      if (conn.wire !== undefined) this.#byWire.set(conn.wire, client)
    }
    return client
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
      (client) => {
        try {
          callback(undefined, client, client.release)
        } catch (err) {
          // pg-pool lets an exception from the callback escape to the process, as a throw from any callback would.
          process.nextTick(() => {
            throw err
          })
        }
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    )
    return undefined
  }

  #checkOut(site: CallSite | undefined, resolve: (client: StewardPgClient) => void, reject: (err: unknown) => void): void {
    if (this.#ending) return reject(new PoolClosedError())
    const scope = this.#db.als.getStore()
    if (scope !== undefined) {
      // Inside a scope: the scope's own connection, not a second one (see joined-transaction.ts).
      const client = new StewardPgClient(() => undefined, this.#binary)
      const link: ClientLink =
        scope.kind === 'session'
          ? { wire: scope.lease.wire, submit: (q, e, f, s) => scope.submitRaw(q, e, f, s), translate: (t) => t, release: () => undefined }
          : joinedTransactionLink(scope)
      client.checkOut(link)
      return resolve(client)
    }
    borrowLease(
      this.#db.pool,
      'checkout',
      site,
      undefined,
      [],
      (lease) => {
        const client = this.#clientFor(lease.conn)
        client.checkOut(leaseLink(lease))
        this.emit('acquire', client)
        resolve(client)
      },
      reject,
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
      args = parsePgQueryArguments(first, second, third, this.#binary)
    } catch (err) {
      // pg-pool answers bad arguments through the callback when there is one.
      const callback = [first, second, third].find((a) => typeof a === 'function') as PgCallback | undefined
      const failure = Promise.reject(err instanceof Error ? err : new Error(String(err)))
      return settle(failure, callback)
    }
    const scope = this.#db.als.getStore()
    if (args.kind === 'submittable') {
      const submittable = args.submittable as unknown as DriverSubmittable
      const effect = submittableEffect(args.text)
      if (scope !== undefined) scope.submitRaw(submittable, true, effect, () => undefined).catch((err: unknown) => deliverError(submittable, err))
      else this.#oneShot(submittable, true, effect, (err) => deliverError(submittable, err))
      return args.submittable
    }
    if (scope !== undefined) return runConfig({ submit: (q, e, f, s) => scope.submitRaw(q, e, f, s) }, args.config, args.callback)
    if (this.#ending) return settle(Promise.reject(new PoolClosedError()), args.callback)
    let built
    try {
      built = driverQuery(args.config, args.callback)
    } catch (err) {
      return settle(Promise.reject(err instanceof Error ? err : new Error(String(err))), args.callback)
    }
    this.#oneShot(built.query, built.exclusive, built.effect, (err) => deliverError(built.query, err))
    return built.result
  }

  /** A query outside any scope: borrowed, run, returned when the server has answered it, as pg-pool's `query` does with a client of its own. */
  #oneShot(query: DriverSubmittable, exclusive: boolean, effect: StatementEffect, fail: (err: unknown) => void): void {
    const shareable = !exclusive && effect === 'plain' && this.#db.options.pipelining
    const traced = this.#db.pool.instrumentation.statement({ text: query.text ?? '', scope: 'one-shot', via: 'pg-facade' })
    borrowOnce(
      this.#db.pool,
      undefined,
      shareable,
      (conn, giveBack) => {
        const client = this.#clientFor(conn)
        this.emit('acquire', client)
        const wire = conn.wire as WireConnection
        wire.enqueue(
          new SubmittableEntry(wire, query, exclusive, effect, {
            settled: (_status, error) => {
              traced?.({ error, rowCount: null, command: undefined, connectionId: conn.id })
              giveBack()
              this.emit('release', undefined, client)
            },
          }),
        )
      },
      (err) => {
        traced?.({ error: err, rowCount: null, command: undefined, connectionId: undefined })
        fail(err)
      },
    )
  }

  // ------------------------------------------------------------------ end

  /**
   * Drain and close the underlying database (pg.Pool's `end`): queries already issued finish first.
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
      if (callback) {
        callback(err)
        return undefined
      }
      return Promise.reject(err)
    }
    this.#ending = true
    const closed = this.#db.close().then(() => {
      this.#ended = true
    })
    if (callback === undefined) return closed
    closed.then(
      () => callback(),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    )
    return undefined
  }
}
