/**
 * A lease: one borrowed connection and everything that runs on it for one session or
 * transaction tree. Statements run strictly one after another in call order, and nothing reaches
 * the connection after the lease was aborted or returned: work the callback starts late gets the
 * abort error (or `SessionClosedError`), never the connection.
 */
import type pg from 'pg'
import { AbortedError, SessionClosedError } from './errors.ts'
import type { Pool } from './pool.ts'
import type { DriverResult, PooledConnection } from './pooled-connection.ts'

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
  readonly openedAt: Error
  #tail: Promise<unknown> = Promise.resolve()
  #released = false
  /** Set when the signal aborted or the timeout passed; every later statement fails with it. */
  abortError: AbortedError | undefined
  /** COMMIT is in flight: an abort now cannot know the outcome. */
  committing = false
  /** COMMIT succeeded: an abort arriving now changes nothing. */
  committed = false
  readonly #deferred: (() => Promise<void>)[] = []

  constructor(pool: Pool, conn: PooledConnection, kind: string, openedAt: Error) {
    this.#pool = pool
    this.conn = conn
    this.kind = kind
    this.openedAt = openedAt
  }

  get released(): boolean {
    return this.#released
  }

  /** Queue a statement behind every statement queued before it on this connection. */
  run(config: pg.QueryConfig): Promise<DriverResult> {
    const execute = (): Promise<DriverResult> => {
      if (this.abortError) return Promise.reject(this.abortError)
      if (this.#released) return Promise.reject(new SessionClosedError(this.kind, this.openedAt.stack))
      return this.conn.query(config)
    }
    // Nothing queued: run now rather than a microtask later (the common case, and the hot path).
    const next = this.#queued === 0 ? execute() : this.#tail.then(execute)
    this.#enqueue(next)
    return next
  }

  #queued = 0

  /** Later statements wait for `work` to settle, whatever its outcome. */
  #enqueue(work: Promise<unknown>): void {
    this.#queued++
    this.#tail = work.then(this.#dequeue, this.#dequeue)
  }

  readonly #dequeue = (): void => {
    this.#queued--
  }

  /** Queue a node-postgres submittable (cursor, stream); the next statement waits until it ends. */
  submit<T extends pg.Submittable>(submittable: T, text: string): T {
    const execute = (): Promise<void> => {
      if (this.abortError) return Promise.reject(this.abortError)
      if (this.#released) return Promise.reject(new SessionClosedError(this.kind, this.openedAt.stack))
      return new Promise<void>((resolve) => {
        const emitter = submittable as unknown as NodeJS.EventEmitter
        emitter.once('end', () => resolve())
        emitter.once('error', () => resolve())
        this.conn.submit(submittable, text)
      })
    }
    const next = this.#queued === 0 ? execute() : this.#tail.then(execute)
    this.#enqueue(next)
    next.catch((err: unknown) => deliverError(submittable, err))
    return submittable
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
