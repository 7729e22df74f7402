/**
 * `db.asPgPool()`: an object that behaves as `pg.Pool` does for code written against it (Kysely,
 * Drizzle, legacy code), backed by pgsteward's pool, so that code gets bounded waits, validation,
 * leak detection and clean release without a rewrite.
 *
 * Differences from pg.Pool, each deliberate: a failed statement does not destroy the connection
 * (a broken one does); waits are bounded by `acquireTimeoutMs` where pg.Pool may wait forever;
 * `query` from inside a `db.transaction` scope joins that transaction; errors from PostgreSQL are
 * node-postgres's own (`err.code` is the SQLSTATE), as such code expects.
 */
import { EventEmitter } from 'node:events'
import type pg from 'pg'
import type { CallSite } from './call-site.js'
import type { Database } from './database.js'
import { PoolClosedError } from './errors.js'
import { deliverError } from './lease.js'
import { StewardPgClient } from './pg-client-facade.js'
import { parsePgQueryArguments, settle } from './pg-query-arguments.js'
import type { PooledConnection } from './pooled-connection.js'

// The class name contains "Pool": Drizzle recognises a pool by it and checks a client out for transactions.
export class StewardPgPool extends EventEmitter {
  readonly #db: Database
  readonly #clients = new WeakMap<PooledConnection, StewardPgClient>()
  readonly #byId = new Map<number, StewardPgClient>()
  #ending = false
  #ended = false

  constructor(db: Database) {
    super()
    this.#db = db
    db.on('connect', ({ connectionId }) => {
      const conn = db.pool.connectionById(connectionId)
      if (conn && this.listenerCount('connect') > 0) this.emit('connect', this.#clientFor(conn))
    })
    db.on('destroy', ({ connectionId }) => {
      const client = this.#byId.get(connectionId)
      this.#byId.delete(connectionId)
      if (client) this.emit('remove', client)
    })
    db.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  #clientFor(conn: PooledConnection): StewardPgClient {
    let client = this.#clients.get(conn)
    if (client === undefined) {
      client = new StewardPgClient(conn, this.#db.pool, (c, err) => this.emit('release', err, c))
      this.#clients.set(conn, client)
      this.#byId.set(conn.id, client)
    }
    return client
  }

  get totalCount(): number {
    return this.#db.pool.snapshot().total
  }

  get idleCount(): number {
    return this.#db.pool.snapshot().idle
  }

  get waitingCount(): number {
    return this.#db.pool.snapshot().waiting
  }

  get expiredCount(): number {
    return this.#db.pool.expiredCount()
  }

  get ending(): boolean {
    return this.#ending
  }

  get ended(): boolean {
    return this.#ended
  }

  /** pg.Pool's options, as far as they have a pgsteward meaning (maxUses is unlimited, allowExitOnIdle always holds). */
  get options(): pg.PoolOptions {
    const { pool, applicationName, statementTimeoutMs } = this.#db.options
    return {
      max: pool.max,
      min: pool.min,
      maxUses: Infinity,
      allowExitOnIdle: true,
      idleTimeoutMillis: pool.idleTimeoutMs,
      connectionTimeoutMillis: pool.acquireTimeoutMs,
      maxLifetimeSeconds: pool.maxLifetimeMs / 1000,
      application_name: applicationName,
      statement_timeout: statementTimeoutMs,
    }
  }

  connect(): Promise<StewardPgClient>
  connect(callback: (err: Error | undefined, client?: StewardPgClient, done?: (err?: Error | boolean) => void) => void): undefined
  connect(callback?: (err: Error | undefined, client?: StewardPgClient, done?: (err?: Error | boolean) => void) => void): Promise<StewardPgClient> | undefined {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const checkedOut = this.#checkOut(this.#db.pool.callSites.capture(StewardPgPool.prototype.connect))
    if (callback === undefined) return checkedOut
    checkedOut.then(
      (client) => callback(undefined, client, client.release),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    )
    return undefined
  }

  async #checkOut(site: CallSite | undefined): Promise<StewardPgClient> {
    if (this.#ending) throw new PoolClosedError()
    // A checkout is a second connection: inside a scope it must not wait on the scope's own.
    const holder = this.#db.als.getStore()?.lease.conn
    const conn = await this.#db.pool.acquire({ site, holder })
    const client = this.#clientFor(conn)
    client.checkOut()
    this.emit('acquire', client)
    return client
  }

  /** node-postgres's `query`, with its overloads: text or config, values, callback, or a submittable. */
  query = ((first: unknown, second?: unknown, third?: unknown): unknown => this.#query(first, second, third)) as pg.Pool['query']

  #query(first: unknown, second?: unknown, third?: unknown): unknown {
    const args = parsePgQueryArguments(first, second, third)
    const scope = this.#db.als.getStore()
    if (args.kind === 'submittable') {
      if (scope !== undefined) return scope.submitRaw(args.submittable, args.text)
      const { submittable } = args
      // pg.Pool leaks the connection of a submitted stream or cursor; here it is released when the submittable ends.
      this.#checkOut(this.#db.pool.callSites.capture(this.query)).then(
        (client) => {
          const emitter = submittable as unknown as NodeJS.EventEmitter
          let released = false
          const releaseOnce = (): void => {
            if (released) return
            released = true
            client.release()
          }
          emitter.once('end', releaseOnce)
          emitter.once('error', releaseOnce)
          emitter.once('close', releaseOnce)
          client.query(submittable)
        },
        (err: unknown) => deliverError(submittable, err),
      )
      return submittable
    }
    const run = scope !== undefined ? scope.runRaw(args.config) : this.#oneShot(args.config)
    return settle(run, args.callback)
  }

  async #oneShot(config: pg.QueryConfig): Promise<unknown> {
    if (this.#ending) throw new PoolClosedError()
    const conn = await this.#db.pool.acquire()
    try {
      return await conn.query(config)
    } finally {
      this.#db.pool.release(conn)
    }
  }

  /** Drain and close the underlying database (pg.Pool's `end`). */
  end(): Promise<void>
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
