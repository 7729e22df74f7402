/**
 * The client the pg.Pool facade's `connect()` hands out: what code written for node-postgres
 * expects of a checked-out client (`query`, `release`, `end`, `processID`, `connection`, events),
 * over a pgsteward lease, or, inside a `db.transaction` callback, over that transaction's own
 * connection (see joined-transaction.ts). A second `release` throws as node-postgres does; use
 * after release is refused.
 */
import { EventEmitter } from 'node:events'
import pg from 'pg'
import { MisuseError, ReleasedConnectionError } from '../errors/error-classes.js'
import type { StatementEffect } from '../wire/statement-effects.js'
import type { DriverSubmittable } from '../wire/submittable-entry.js'
import type { WireConnection } from '../wire/wire-connection.js'
import { deliverError } from './deliver-error.js'
import { driverQuery, submittableEffect } from './driver-query.js'
import { asError, callBack, parsePgQueryArguments, settle, type PgCallback } from './pg-query-arguments.js'

/** Where a client's statements go: its own lease, or the scope it joined. */
export interface ClientLink {
  readonly wire: WireConnection
  /** The scope's connection, shared with it: the client may not close it. */
  readonly joined: boolean
  /** Queue a submittable; rejects (or throws) when the lease or scope refuses it. */
  submit(query: DriverSubmittable, exclusive: boolean, effect: StatementEffect, settled: () => void): Promise<void> | void
  /** A statement text as it must run here (a joined transaction turns BEGIN/COMMIT/ROLLBACK into savepoints), or an error refusing it. */
  translate(text: string): string | Error
  /** Give the connection back (a joined client only tidies its savepoints). */
  release(destroy: boolean): void
}

/** node-postgres client settings the pool passes on to every client. */
export interface ClientSettings {
  /** Results in binary where node-postgres has a parser for it (`binary`). */
  readonly binary: boolean
  /** The client's queries are written without waiting for the previous answer (`pipeline`). */
  readonly pipeline: boolean
}

/** node-postgres's message when a connection ends without being asked to. */
const TERMINATED = 'Connection terminated unexpectedly'

export function connectionTerminated(cause?: unknown): Error {
  return new Error(TERMINATED, cause === undefined ? undefined : { cause })
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
  /** The connection this client stands for; kept after release, as node-postgres's client keeps its own. */
  #wire: WireConnection | undefined
  /** `end()` was called: the connection goes when the client is released. */
  #ended = false
  /** @internal `end()` closed the connection on purpose: its closing is no error (node-postgres emits only 'end'). */
  endRequested = false
  /**
   * @internal Released with a statement still running. node-postgres's pool leaves such a statement
   * running, so a connection lost before it is lent again fails that statement there and reports
   * "Connection terminated unexpectedly"; pgsteward cancels it, and reports the loss the same way.
   */
  releasedBusy = false
  readonly #onRelease: (client: StewardPgClient, err: Error | undefined) => void
  readonly #settings: ClientSettings
  /** The connection was lost while checked out and no one listened: reported when the client is released. */
  #unheardLoss: Error | undefined
  /** While not checked out: what the pool does when this client reports an error (removes it, as pg-pool does). */
  readonly #idleListener: ((err: Error) => void) | undefined

  /** @internal Made by the pool facade only. */
  constructor(
    onRelease: (client: StewardPgClient, err: Error | undefined) => void,
    settings: ClientSettings,
    onIdleError?: (client: StewardPgClient, err: Error) => void,
  ) {
    super()
    this.#onRelease = onRelease
    this.#settings = settings
    if (onIdleError !== undefined) {
      const listener = (err: Error): void => {
        this.off('error', listener)
        // Later errors of a client already removed are swallowed, as pg-pool does.
        this.on('error', () => undefined)
        onIdleError(this, err)
      }
      this.#idleListener = listener
      this.on('error', listener)
    }
  }

  /** @internal The connection this client stands for, from the moment it is opened. */
  attach(wire: WireConnection): void {
    this.#wire = wire
  }

  /** @internal Called by the facade when it lends this client. */
  checkOut(link: ClientLink): void {
    this.#link = link
    this.#wire = link.wire
    this.#ended = false
    this.#unheardLoss = undefined
    this.releasedBusy = false
    if (this.#idleListener !== undefined) this.off('error', this.#idleListener)
  }

  /** Whether the client is checked out (not yet released). */
  get checkedOut(): boolean {
    return this.#link !== undefined
  }

  /** The server's backend process id (node-postgres's `processID`, which Kysely reads to cancel a query). */
  get processID(): number | undefined {
    return this.#wire?.processId
  }

  /** node-postgres's `binary` setting, from the pool's options. */
  get binary(): boolean {
    return this.#settings.binary
  }

  /** node-postgres's `pipeline` setting: true when this client's queries go out without waiting for the previous answer. */
  get pipeline(): boolean {
    return this.#settings.pipeline
  }

  /**
   * node-postgres's `Connection` for this client (the one cursors, streams and COPY write with),
   * for code that reaches into it (`client.connection.stream`). Writing protocol messages to it
   * directly bypasses pgsteward's bookkeeping: only its stream's events and `end()` are safe.
   */
  get connection(): WireConnection['socket'] | undefined {
    return this.#wire?.socket
  }

  /**
   * @internal The connection broke: tell the client's own `error` listeners, as node-postgres's client
   * does. While checked out with nobody listening, node-postgres would throw (and crash the
   * process); here the loss is kept and reported on the pool when the client is released.
   */
  connectionLost(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else if (this.#link !== undefined) this.#unheardLoss = err
  }

  /**
   * Close this client's connection, as node-postgres's `client.end()` does; the pool drops it
   * when it is released. A client joined to a `db.transaction` or `db.session` cannot close the
   * scope's connection.
   * @example
   * ```ts
   * const client = await pool.connect()
   * await client.end() // the connection closes; the pool drops it
   * client.release()
   * ```
   */
  end(): Promise<void>
  end(callback: (err?: Error) => void): undefined
  end(callback?: (err?: Error) => void): Promise<void> | undefined {
    const ended = this.#end()
    if (callback === undefined) return ended
    ended.then(
      () => callBack(callback),
      (err: unknown) => callBack(callback, asError(err)),
    )
    return undefined
  }

  #end(): Promise<void> {
    const link = this.#link
    if (link?.joined === true) {
      return Promise.reject(
        new MisuseError("end() on a client checked out inside db.transaction or db.session would close the scope's connection: call release() instead."),
      )
    }
    // Not checked out (idle, or running a pool.query): node-postgres closes it all the same, and the pool drops it.
    const wire = this.#wire
    if (wire === undefined || wire.closed) return Promise.resolve()
    if (link !== undefined) this.#ended = true
    this.endRequested = true
    return new Promise((resolve) => {
      wire.socket.stream.once('close', () => resolve())
      // As node-postgres: with a statement running, the socket is cut (the server reads Terminate only after it); otherwise a polite Terminate.
      if (wire.quiet) wire.terminate()
      else wire.destroy(new Error('Connection terminated'))
    })
  }

  /**
   * Return the client to the pool. `release(true)` or `release(error)` destroys the connection
   * instead, as node-postgres does (so does a release after `end()`); a failed statement alone does not.
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
    this.releasedBusy = !link.wire.quiet
    if (this.#idleListener !== undefined) this.on('error', this.#idleListener)
    // 'release' before the connection goes back: a waiter it is handed to announces its 'acquire' after, as in pg-pool.
    this.#onRelease(this, err instanceof Error ? err : undefined)
    link.release(err === true || err instanceof Error || this.#ended)
    const lost = this.#unheardLoss
    this.#unheardLoss = undefined
    // The pool has dropped the broken connection; its listeners hear of it now, as node-postgres's pool would once the client came back idle.
    if (lost !== undefined && this.listenerCount('error') > 0) this.emit('error', lost.message === TERMINATED ? lost : connectionTerminated(lost))
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
    let args
    try {
      args = parsePgQueryArguments(first, second, third, this.#settings.binary)
    } catch (err) {
      const callback = [first, second, third].find((a) => typeof a === 'function') as PgCallback | undefined
      return settle(Promise.reject(asError(err)), callback)
    }
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
      void Promise.resolve(link.submit(submittable, true, submittableEffect(args.text), () => undefined)).catch((err: unknown) =>
        deliverError(submittable, err),
      )
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
    return settle(Promise.reject(asError(err)), callback)
  }
  const { query, exclusive, effect, result } = built
  Promise.resolve(link.submit(query, exclusive, effect, () => undefined)).catch((err: unknown) => deliverError(query, err))
  return result
}
