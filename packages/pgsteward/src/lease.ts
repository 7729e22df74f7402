/**
 * A lease: one borrowed connection and everything that runs on it for one session or
 * transaction tree. Statements run strictly one after another in call order, and nothing reaches
 * the connection after the lease was aborted or returned: work the callback starts late gets the
 * abort error (or `SessionClosedError`), never the connection.
 */
import type pg from 'pg'
import type { CallSite } from './call-site.js'
import { AbortedError, SessionClosedError } from './errors.js'
import type { Pool } from './pool.js'
import type { DriverResult, PooledConnection } from './pooled-connection.js'

/** A submittable that never reached a connection still owes its consumer an error. */
export function deliverError(submittable: pg.Submittable, err: unknown): void {
  const target = submittable as unknown as { handleError?: (e: unknown) => void; destroy?: (e: unknown) => void; emit?: (n: string, e: unknown) => void }
  if (typeof target.destroy === 'function') target.destroy(err)
  else if (typeof target.handleError === 'function') target.handleError(err)
  else target.emit?.('error', err)
}

export class Lease {
  readonly conn: PooledConnection
  readonly #pool: Pool
  readonly kind: string
  readonly openedAt: CallSite | undefined
  #tail: Promise<unknown> = Promise.resolve()
  #released = false
  /** Set when the signal aborted or the timeout passed; every later statement fails with it. */
  abortError: AbortedError | undefined
  /** COMMIT is in flight: an abort now cannot know the outcome. */
  committing = false
  /** COMMIT succeeded: an abort arriving now changes nothing. */
  committed = false
  readonly #deferred: (() => Promise<void>)[] = []
  /**
   * The BEGIN of a transaction whose first statement has not been queued yet. The first statement
   * takes it and sends it in its own round trip; a transaction that never ran a statement has
   * nothing on the server to commit or roll back.
   */
  #unsentBegin: string | undefined

  constructor(pool: Pool, conn: PooledConnection, kind: string, openedAt: CallSite | undefined) {
    this.#pool = pool
    this.conn = conn
    this.kind = kind
    this.openedAt = openedAt
  }

  get released(): boolean {
    return this.#released
  }

  /** Statements submitted and not yet settled; the next one waits behind them. */
  #pending = 0
  #settled(): void {
    this.#pending--
  }

  /** Why nothing may reach the connection any more, if so. */
  #refusal(): Error | undefined {
    if (this.abortError) return this.abortError
    if (this.#released) {
      this.#pool.callSites.startRecording()
      return new SessionClosedError(this.kind, this.openedAt?.stack)
    }
    return undefined
  }

  /**
   * Queue a statement behind every statement queued before it on this connection. With nothing
   * pending (the common case) it goes out at once, costing no promise beyond its own.
   */
  run(config: pg.QueryConfig): Promise<DriverResult> {
    this.#pending++
    // Taken when queued, not when sent: from here on the transaction exists as far as COMMIT is concerned.
    const begin = this.#unsentBegin
    this.#unsentBegin = undefined
    let next: Promise<DriverResult>
    if (this.#pending === 1) {
      next = this.#execute(config, begin)
    } else {
      // Only a queued statement pays for a closure: the direct path above allocates none.
      const execute = (): Promise<DriverResult> => this.#execute(config, begin)
      next = this.#tail.then(execute, execute)
    }
    this.#tail = next
    return next
  }

  #execute(config: pg.QueryConfig, begin: string | undefined): Promise<DriverResult> {
    const refusal = this.#refusal()
    if (refusal) {
      this.#settled()
      return Promise.reject(refusal)
    }
    // An inline arrow, not a bound field: under tsx (esbuild's keepNames) a closure stored in a
    // class field is renamed with a defineProperty on every lease.
    return this.conn.query(config, () => this.#settled(), begin)
  }

  /** Open a transaction with `begin` when the next statement is queued, in that statement's round trip. */
  beginWithNextStatement(begin: string): void {
    this.#unsentBegin = begin
  }

  /**
   * Forget a BEGIN no statement has taken. True if there was one: the transaction never reached
   * the server, so there is nothing to commit or roll back.
   */
  dropUnsentBegin(): boolean {
    const unsent = this.#unsentBegin !== undefined
    this.#unsentBegin = undefined
    return unsent
  }

  /** Queue a node-postgres submittable (cursor, stream); the next statement waits until it ends. */
  submit<T extends pg.Submittable>(submittable: T, text: string): T {
    const begin = this.#unsentBegin
    this.#unsentBegin = undefined
    const execute = (): Promise<void> => {
      if (begin === undefined) return this.#submitNow(submittable, text)
      const refusal = this.#refusal()
      if (refusal) {
        this.#settled()
        return Promise.reject(refusal)
      }
      // A cursor or stream cannot carry BEGIN: it goes first, alone, and the submittable only after it succeeded.
      return this.conn.query({ text: begin }).then(
        () => this.#submitNow(submittable, text),
        (err: unknown) => {
          this.#settled()
          throw err
        },
      )
    }
    this.#pending++
    const next = this.#pending === 1 ? execute() : this.#tail.then(execute, execute)
    this.#tail = next
    next.catch((err: unknown) => deliverError(submittable, err))
    return submittable
  }

  #submitNow(submittable: pg.Submittable, text: string): Promise<void> {
    const refusal = this.#refusal()
    if (refusal) {
      this.#settled()
      return Promise.reject(refusal)
    }
    return new Promise<void>((resolve) => {
      const emitter = submittable as unknown as NodeJS.EventEmitter
      const done = (): void => {
        this.#settled()
        resolve()
      }
      emitter.once('end', done)
      emitter.once('error', done)
      this.conn.submit(submittable, text)
    })
  }

  /**
   * Run `work` once the connection is back in the pool (now, if it already is). Commit and
   * rollback hooks go here, so a hook that queries the database never holds two connections.
   */
  async defer(work: () => Promise<void>): Promise<void> {
    if (this.#released) await work()
    else this.#deferred.push(work)
  }

  get hasDeferred(): boolean {
    return this.#deferred.length > 0
  }

  /** Run what was deferred until the release, in order. */
  async runDeferred(): Promise<void> {
    for (const work of this.#deferred.splice(0)) await work()
  }

  /** Give the connection back once; the pool cancels, rolls back or destroys what is left dirty. */
  release(): void {
    if (this.#released) return
    this.#released = true
    this.#pool.release(this.conn)
  }
}
