/**
 * The client handed out by the pg.Pool facade's `connect()`: what code written for node-postgres
 * expects of a checked-out client (`query`, `release`, events), over one pooled connection.
 * A second `release` throws as node-postgres does; use after release is refused.
 */
import { EventEmitter } from 'node:events'
import type pg from 'pg'
import { ReleasedConnectionError } from './errors.js'
import { parsePgQueryArguments, settle } from './pg-query-arguments.js'
import type { Pool } from './pool.js'
import type { PooledConnection } from './pooled-connection.js'

export class StewardPgClient extends EventEmitter {
  readonly #conn: PooledConnection
  readonly #pool: Pool
  readonly #onRelease: (client: StewardPgClient, err: Error | undefined) => void
  #checkedOut = false

  constructor(conn: PooledConnection, pool: Pool, onRelease: (client: StewardPgClient, err: Error | undefined) => void) {
    super()
    this.#conn = conn
    this.#pool = pool
    this.#onRelease = onRelease
    // LISTEN/NOTIFY and notices reach the checked-out client, as with node-postgres.
    conn.client.on('notification', (msg) => this.emit('notification', msg))
    conn.client.on('notice', (msg) => this.emit('notice', msg))
    conn.client.on('error', (err) => {
      if (this.#checkedOut && this.listenerCount('error') > 0) this.emit('error', err)
    })
  }

  /** Called by the facade when it lends this client. */
  checkOut(): void {
    this.#checkedOut = true
  }

  get processID(): number | null {
    return this.#conn.processId
  }

  /**
   * Return the client to the pool. `release(true)` or `release(error)` destroys the connection
   * instead, as node-postgres does; a failed statement alone does not.
   */
  release = (err?: Error | boolean): void => {
    if (!this.#checkedOut) throw new Error('Release called on client which has already been released to the pool.')
    this.#checkedOut = false
    const destroy = err === true || err instanceof Error
    this.#pool.release(this.#conn, destroy)
    this.#onRelease(this, err instanceof Error ? err : undefined)
  }

  /** node-postgres's `query`, with its overloads: text or config, values, callback, or a submittable. */
  query = ((first: unknown, second?: unknown, third?: unknown): unknown => this.#query(first, second, third)) as pg.PoolClient['query']

  #query(first: unknown, second?: unknown, third?: unknown): unknown {
    const args = parsePgQueryArguments(first, second, third)
    if (!this.#checkedOut) {
      const err = new ReleasedConnectionError('This client was released to the pool and can no longer run queries: check out a new one with pool.connect().')
      if (args.kind === 'submittable') throw err
      return settle(Promise.reject(err), args.callback)
    }
    if (args.kind === 'submittable') return this.#conn.submit(args.submittable, args.text)
    return settle(this.#conn.query(args.config), args.callback)
  }

  escapeIdentifier(value: string): string {
    return this.#conn.client.escapeIdentifier(value)
  }

  escapeLiteral(value: string): string {
    return this.#conn.client.escapeLiteral(value)
  }

  /** The node-postgres client underneath, for code that needs something this facade lacks. */
  get native(): pg.Client {
    return this.#conn.client
  }
}
