/**
 * LISTEN/NOTIFY's receiving side: one connection per database, opened on the first `listen`
 * outside the pool (it never counts against `pool.max`, never serves a query), closed when the
 * last listener leaves or the database closes. When the connection is lost (a server restart,
 * `pg_terminate_backend`, a failover), it is opened again with backoff, every channel is
 * LISTENed again, and only then is each listener told that notifications may have been missed
 * (`onGap`), so a catch-up read made there cannot miss anything either: whatever commits after
 * it is notified on the new connection.
 */
import { performance } from 'node:perf_hooks'
import { ConnectionError, MisuseError, PoolClosedError } from '../errors/error-classes.js'
import { checkChannel, quoted } from './channel.js'
import { messages } from '../errors/error-messages.js'
import { mapError, sqlStateOf } from '../errors/map-error.js'
import type { ResolvedOptions } from '../options/database-options.js'
import { connect } from '../pool/connector.js'
import type { Pool } from '../pool/pool.js'
import { runSimple } from '../wire/run-simple.js'
import type { WireConnection, WireListeners } from '../wire/wire-connection.js'

/** Options of `db.listen`. */
export interface ListenOptions {
  /**
   * Called after the listening connection was lost and is back, with every channel listened to
   * again: notifications sent meanwhile were missed. Read what you have not seen yet from the
   * database here. (Default: none)
   */
  onGap?: () => void
}

interface Subscription {
  readonly channel: string
  readonly onNotification: (payload: string) => void
  readonly onGap: (() => void) | undefined
  /** Its `listen` resolved: if the connection is lost now, it may miss notifications. */
  active: boolean
}

/** A loss not yet made good: when it happened, why, and who was listening then. */
interface Loss {
  at: number
  error: Error | undefined
  listening: Subscription[]
}

/** The longest pause between two attempts to reconnect. The pool's own backoff tops out at 100 ms because it retries only while callers wait; a listener retries for as long as it listens, so it backs off further. */
const MAX_BACKOFF_MS = 1_000

export class Listener {
  readonly #pool: Pool
  readonly #options: ResolvedOptions
  readonly #channels = new Map<string, Set<Subscription>>()
  #wire: WireConnection | undefined
  #opening: Promise<WireConnection | undefined> | undefined
  #failures = 0
  #lastError: Error | undefined
  #loss: Loss | undefined
  #closed = false
  #wakeUp: (() => void) | undefined
  readonly #wireListeners: WireListeners = {
    closed: (wire, err) => this.#onClosed(wire, err),
    notification: (_wire, message) => this.#deliver(message.channel, message.payload),
  }

  constructor(pool: Pool, options: ResolvedOptions) {
    this.#pool = pool
    this.#options = options
  }

  /** The server process id of the listening connection; undefined while there is none. */
  get processId(): number | undefined {
    return this.#wire?.closed === false ? this.#wire.processId : undefined
  }

  async listen(channel: string, onNotification: (payload: string) => void, options: ListenOptions | undefined): Promise<() => Promise<void>> {
    checkChannel(channel, 'db.listen')
    if (typeof onNotification !== 'function') {
      throw new MisuseError(
        `db.listen('${channel}', handler): the handler must be a function taking the payload, as in db.listen('${channel}', (payload) => ...).`,
      )
    }
    if (options !== undefined && (typeof options !== 'object' || options === null))
      throw new MisuseError('db.listen: the third argument must be an options object such as { onGap }.')
    const onGap = options?.onGap
    if (onGap !== undefined && typeof onGap !== 'function') throw new MisuseError('db.listen: onGap must be a function, called after a reconnection.')
    const unknown = options === undefined ? [] : Object.keys(options).filter((k) => k !== 'onGap')
    if (unknown.length > 0) throw new MisuseError(`db.listen: unknown option ${unknown.join(', ')}; the only option is onGap.`)
    if (this.#closed || this.#pool.closing) throw new PoolClosedError()
    if (this.#options.pooler === 'transaction') {
      throw new MisuseError(
        "db.listen cannot work through a transaction-mode pooler (pooler: 'transaction'): the pooler hands the server connection to other clients after each transaction, and the LISTEN goes with it. " +
          'Listen through a second database that connects to PostgreSQL directly (or through a session-mode pool): createDatabase({ connectionString: DIRECT_DATABASE_URL, pool: { max: 1 } }).listen(...). db.notify works through the pooler.',
      )
    }
    const sub: Subscription = { channel, onNotification, onGap, active: false }
    let subs = this.#channels.get(channel)
    if (subs === undefined) {
      subs = new Set()
      this.#channels.set(channel, subs)
    }
    subs.add(sub)
    try {
      await this.#confirm(channel, performance.now() + this.#options.pool.acquireTimeoutMs)
    } catch (err) {
      await this.#remove(sub)
      throw err
    }
    sub.active = true
    let removed: Promise<void> | undefined
    return () => (removed ??= this.#remove(sub))
  }

  /** Close the connection; listeners hear nothing more. Resolves once the socket is closed. */
  async close(): Promise<void> {
    this.#closed = true
    this.#channels.clear()
    this.#wakeUp?.()
    const wire = this.#wire
    this.#wire = undefined
    if (wire !== undefined) await closeAndWait(wire, this.#options.pool.connectTimeoutMs)
    // An attempt under way ends by itself (it sees the database closed) and closes what it opened.
    await this.#opening
  }

  /** LISTEN on a live connection, waiting for the server's answer; bounded by `deadline` while there is no connection. */
  async #confirm(channel: string, deadline: number): Promise<void> {
    for (;;) {
      const wire = await this.#connection(deadline)
      try {
        await runSimple(wire, `LISTEN ${quoted(channel)}`, this.#options.pool.connectTimeoutMs)
        return
      } catch (err) {
        if (this.#closed) throw new PoolClosedError()
        // The server refused it on a healthy connection: that is the caller's answer.
        if (!wire.closed) throw mapError(err, `LISTEN ${quoted(channel)}`)
        // Lost meanwhile: the reconnection LISTENs every channel again; wait for it.
      }
    }
  }

  #connection(deadline: number): Promise<WireConnection> {
    if (this.#wire !== undefined && !this.#wire.closed) return Promise.resolve(this.#wire)
    const opening = this.#startOpening()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(this.#connectError()), Math.max(0, deadline - performance.now()))
      timer.unref()
      opening.then(
        (wire) => {
          clearTimeout(timer)
          if (wire === undefined) reject(new PoolClosedError())
          else resolve(wire)
        },
        (err: unknown) => {
          clearTimeout(timer)
          reject(err instanceof Error ? err : new Error(String(err)))
        },
      )
    })
  }

  #connectError(): ConnectionError {
    const err = this.#lastError
    const reason = err === undefined ? `no connection within pool.acquireTimeoutMs (${this.#options.pool.acquireTimeoutMs} ms)` : err.message
    return new ConnectionError(messages.connectFailed(this.#options.connection.describe(), reason, this.#failures), err, sqlStateOf(err))
  }

  /** The attempt to open the connection under way, or a new one. */
  #startOpening(): Promise<WireConnection | undefined> {
    if (this.#opening === undefined) {
      const opening = this.#openUntilConnected()
      this.#opening = opening
      void opening.finally(() => {
        if (this.#opening === opening) this.#opening = undefined
      })
    }
    return this.#opening
  }

  /** Open a connection and LISTEN every channel, retrying with backoff while anyone listens. Never rejects. */
  async #openUntilConnected(): Promise<WireConnection | undefined> {
    while (!this.#closed && this.#channels.size > 0) {
      let wire: WireConnection | undefined
      try {
        wire = await connect({
          settings: this.#options.connection,
          pipelining: false,
          statementNames: undefined,
          listeners: this.#wireListeners,
        })
        const channels = [...this.#channels.keys()]
        if (!this.#closed && channels.length > 0) {
          await runSimple(wire, channels.map((c) => `LISTEN ${quoted(c)}`).join('; '), this.#options.pool.connectTimeoutMs)
        }
      } catch (err) {
        wire?.destroy()
        this.#failures++
        this.#lastError = err instanceof Error ? err : new Error(String(err))
        if (this.#pool.listenerCount('error') > 0) this.#pool.emit('error', this.#lastError)
        await this.#pause(Math.min(MAX_BACKOFF_MS, 5 * 2 ** Math.min(this.#failures - 1, 10)) * (0.5 + Math.random() / 2))
        continue
      }
      if (this.#closed || this.#channels.size === 0) {
        await closeAndWait(wire, this.#options.pool.connectTimeoutMs)
        return undefined
      }
      this.#wire = wire
      const attempts = this.#failures + 1
      this.#failures = 0
      this.#lastError = undefined
      if (this.#pool.listenerCount('listenerConnect') > 0) {
        this.#pool.emit('listenerConnect', { processId: wire.processId, channels: [...this.#channels.keys()], reconnected: this.#loss !== undefined })
      }
      const loss = this.#loss
      this.#loss = undefined
      if (loss !== undefined) this.#reportGap(loss, attempts)
      return wire
    }
    return undefined
  }

  /** Wait before the next attempt; `close()` cuts the wait short. The timer keeps the process alive: someone is listening. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wakeUp = done
    }).finally(() => {
      this.#wakeUp = undefined
    })
  }

  #onClosed(wire: WireConnection, err: Error | undefined): void {
    // A connection closed on purpose (the last unlisten, close) was detached first.
    if (wire !== this.#wire) return
    this.#wire = undefined
    if (this.#closed || this.#channels.size === 0) return
    const listening = [...this.#channels.values()].flatMap((subs) => [...subs].filter((s) => s.active))
    this.#loss = { at: performance.now(), error: err, listening }
    if (this.#pool.listenerCount('listenerLost') > 0) this.#pool.emit('listenerLost', { error: err, channels: [...this.#channels.keys()] })
    void this.#startOpening()
  }

  #reportGap(loss: Loss, attempts: number): void {
    const listening = loss.listening.filter((sub) => this.#channels.get(sub.channel)?.has(sub) === true)
    if (this.#pool.listenerCount('listenerGap') > 0) {
      this.#pool.emit('listenerGap', {
        channels: [...new Set(listening.map((s) => s.channel))],
        downMs: performance.now() - loss.at,
        attempts,
        error: loss.error,
      })
    }
    for (const sub of listening) if (sub.onGap !== undefined) this.#call(() => sub.onGap?.())
  }

  #deliver(channel: string, payload: string): void {
    const subs = this.#channels.get(channel)
    if (subs === undefined) return
    for (const sub of [...subs]) this.#call(() => sub.onNotification(payload))
  }

  /** Run a listener's callback; what it throws (or its promise rejects with) goes to the `error` event, else to a process warning. */
  #call(fn: () => unknown): void {
    try {
      const result = fn()
      if (result instanceof Promise) result.catch((err: unknown) => this.#callbackFailed(err))
    } catch (err) {
      this.#callbackFailed(err)
    }
  }

  #callbackFailed(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    if (this.#pool.listenerCount('error') > 0) this.#pool.emit('error', error)
    else process.emitWarning(`a db.listen callback threw: ${error.stack ?? error.message}`, 'PgStewardWarning')
  }

  async #remove(sub: Subscription): Promise<void> {
    const subs = this.#channels.get(sub.channel)
    if (subs?.delete(sub) !== true || subs.size > 0) return
    this.#channels.delete(sub.channel)
    const wire = this.#wire
    if (wire === undefined || wire.closed) return
    if (this.#channels.size === 0) {
      // Nobody listens any more: the connection goes (and with it every LISTEN).
      this.#wire = undefined
      await closeAndWait(wire, this.#options.pool.connectTimeoutMs)
      return
    }
    await runSimple(wire, `UNLISTEN ${quoted(sub.channel)}`, this.#options.pool.connectTimeoutMs).catch(() => undefined)
  }
}

/** Terminate politely and wait for the socket to close (cut it if that takes longer than `timeoutMs`). */
function closeAndWait(wire: WireConnection, timeoutMs: number): Promise<void> {
  const stream = wire.socket.stream
  if (stream.destroyed) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      wire.destroy()
      resolve()
    }, timeoutMs)
    timer.unref()
    stream.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    if (wire.quiet) wire.terminate()
    else wire.destroy()
  })
}
