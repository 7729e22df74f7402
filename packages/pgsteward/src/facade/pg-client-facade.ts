/**
 * The client the pg.Pool facade's `connect()` hands out: what code written for node-postgres
 * expects of a checked-out client (`query`, `release`, `processID`, events), over a pgsteward
 * lease, or, inside a `db.transaction` callback, over that transaction's own connection (see
 * joined-transaction.ts). A second `release` throws as node-postgres does; use after release is refused.
 */
import { EventEmitter } from 'node:events'
import pg from 'pg'
import { ReleasedConnectionError } from '../errors/error-classes.js'
import type { StatementEffect } from '../wire/statement-effects.js'
import type { DriverSubmittable } from '../wire/submittable-entry.js'
import type { WireConnection } from '../wire/wire-connection.js'
import { deliverError } from './deliver-error.js'
import { driverQuery, submittableEffect } from './driver-query.js'
import { parsePgQueryArguments, settle, type PgCallback } from './pg-query-arguments.js'

/** Where a client's statements go: its own lease, or the transaction it joined. */
export interface ClientLink {
  readonly wire: WireConnection
  /** Queue a submittable; rejects (or throws) when the lease or scope refuses it. */
  submit(query: DriverSubmittable, exclusive: boolean, effect: StatementEffect, settled: () => void): Promise<void> | void
  /** A statement text as it must run here (a joined transaction turns BEGIN/COMMIT/ROLLBACK into savepoints), or an error refusing it. */
  translate(text: string): string | Error
  /** Give the connection back (a joined client only tidies its savepoints). */
  release(destroy: boolean): void
}

/**
 * The client `pool.connect()` hands out: `query`, `release`, `processID`, `escapeIdentifier`,
 * `escapeLiteral` and the 'notification' and 'notice' events, as node-postgres's PoolClient has
 * them. A second `release` throws, as in node-postgres; a query after release is refused.
 * @example
 * ```ts
 * const client = await pool.connect()
 * try {
 *   await client.query('LISTEN jobs')
 *   client.on('notification', (message) => console.log(message.payload))
 * } finally {
 *   client.release()
 * }
 * ```
 */
export class StewardPgClient extends EventEmitter {
  #link: ClientLink | undefined
  readonly #onRelease: (client: StewardPgClient, err: Error | undefined) => void
  readonly #binary: boolean

  /** @internal Made by the pool facade only. */
  constructor(onRelease: (client: StewardPgClient, err: Error | undefined) => void, binary = false) {
    super()
    this.#onRelease = onRelease
    this.#binary = binary
  }

  /** @internal Called by the facade when it lends this client. */
  checkOut(link: ClientLink): void {
    this.#link = link
  }

  /** Whether the client is checked out (not yet released). */
  get checkedOut(): boolean {
    return this.#link !== undefined
  }

  /** The server's backend process id (node-postgres's `processID`, which Kysely reads to cancel a query). */
  get processID(): number | null {
    return this.#link?.wire.processId ?? null
  }

  /**
   * Return the client to the pool. `release(true)` or `release(error)` destroys the connection
   * instead, as node-postgres does; a failed statement alone does not.
   * @example
   * ```ts
   * const client = await pool.connect()
   * try {
   *   await client.query('SELECT 1')
   * } finally {
   *   client.release()
   * }
   * ```
   */
  release = (err?: Error | boolean): void => {
    const link = this.#link
    if (link === undefined) throw new Error('Release called on client which has already been released to the pool.')
    this.#link = undefined
    // 'release' before the connection goes back: a waiter it is handed to announces its 'acquire' after, as in pg-pool.
    this.#onRelease(this, err instanceof Error ? err : undefined)
    link.release(err === true || err instanceof Error)
  }

  /**
   * node-postgres's `query`, with its overloads: text or config, values, callback, or a submittable
   * (pg-cursor, pg-query-stream), on this client's connection.
   * @example
   * ```ts
   * const { rows } = await client.query('SELECT * FROM jobs WHERE state = $1 FOR UPDATE SKIP LOCKED LIMIT 10', ['ready'])
   * ```
   */
  query = ((first: unknown, second?: unknown, third?: unknown): unknown => this.#query(first, second, third)) as pg.PoolClient['query']

  #query(first: unknown, second: unknown, third: unknown): unknown {
    const args = parsePgQueryArguments(first, second, third, this.#binary)
    const link = this.#link
    if (link === undefined) {
      const err = new ReleasedConnectionError('This client was released to the pool and can no longer run queries: check out a new one with pool.connect().')
      if (args.kind === 'submittable') throw err
      return settle(Promise.reject(err), args.callback)
    }
    if (args.kind === 'submittable') {
      const text = link.translate(args.text)
      if (text instanceof Error) throw text
      const submittable = args.submittable as unknown as DriverSubmittable
      void Promise.resolve(link.submit(submittable, true, submittableEffect(args.text), () => undefined)).catch((err: unknown) => deliverError(submittable, err))
      return args.submittable
    }
    const text = link.translate(args.config.text)
    if (text instanceof Error) return settle(Promise.reject(text), args.callback)
    return runConfig(link, text === args.config.text ? args.config : { ...args.config, text }, args.callback)
  }

  /**
   * Quote an identifier, as node-postgres's `escapeIdentifier`.
   * @example
   * ```ts
   * await client.query(`SELECT * FROM ${client.escapeIdentifier(table)}`)
   * ```
   */
  escapeIdentifier(value: string): string {
    return pg.escapeIdentifier(value)
  }

  /**
   * Quote a string literal, as node-postgres's `escapeLiteral`. Prefer parameters (`$1`).
   * @example
   * ```ts
   * await client.query(`NOTIFY jobs, ${client.escapeLiteral(payload)}`)
   * ```
   */
  escapeLiteral(value: string): string {
    return pg.escapeLiteral(value)
  }
}

/** Run a query config on a link, node-postgres style: a promise, or undefined with the callback called. */
export function runConfig(link: Pick<ClientLink, 'submit'>, config: pg.QueryConfig, callback: PgCallback | undefined): Promise<pg.QueryResult> | undefined {
  let built
  try {
    built = driverQuery(config, callback)
  } catch (err) {
    return settle(Promise.reject(err instanceof Error ? err : new Error(String(err))), callback)
  }
  const { query, exclusive, effect, result } = built
  Promise.resolve(link.submit(query, exclusive, effect, () => undefined)).catch((err: unknown) => deliverError(query, err))
  return result
}
