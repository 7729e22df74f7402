/**
 * The callers waiting for a connection: how each one waits (its deadline, its abort signal) and
 * how it stops waiting, exactly once. The queue order is wait-queue.ts's; what a deadline means
 * (which error, which counters) is the pool's, told through `onDeadline`.
 */
import { performance } from 'node:perf_hooks'
import { abortErrorFrom } from '../errors/map-error.js'
import type { CallSite } from '../scope/call-site.js'
import type { PooledConnection } from './pooled-connection.js'
import { WaitQueue } from './wait-queue.js'

export type Grant = (conn: PooledConnection) => void
export type Fail = (err: Error) => void

/** What a caller asks of the pool with a borrow. */
export interface AcquireRequest {
  signal?: AbortSignal | undefined
  /** Overrides `pool.acquireTimeoutMs` for this acquire. */
  timeoutMs?: number | undefined
  /** Where the acquiring code called from, kept for leak reports and deadlock errors. */
  site?: CallSite | undefined
  /** Connections the asking chain of scopes already holds: if they are all the pool has, waiting cannot end. */
  heldBy?: readonly PooledConnection[] | undefined
}

export interface Waiter {
  kind: 'exclusive' | 'shared'
  settled: boolean
  /** In the wait queue (not taken out to be served, nor waiting on a validation). */
  queued: boolean
  enqueuedAt: number
  /** When it gives up (performance.now() clock). */
  deadline: number
  /** Its deadline is the pool's default one: watched by the one shared timer, not its own. */
  sharedDeadline: boolean
  timer: NodeJS.Timeout | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  site: CallSite | undefined
  /** Connections the waiting chain of scopes holds while it waits (for deadlock detection). */
  heldBy: readonly PooledConnection[]
  grant: Grant
  fail: Fail
}

export class Waiters {
  readonly #queue = new WaitQueue<Waiter>()
  readonly #defaultTimeoutMs: number
  readonly #onDeadline: (waiter: Waiter) => void
  #deadlineTimer: NodeJS.Timeout | undefined

  /** `onDeadline` is called for a waiter still waiting at its deadline; it decides the error. */
  constructor(defaultTimeoutMs: number, onDeadline: (waiter: Waiter) => void) {
    this.#defaultTimeoutMs = defaultTimeoutMs
    this.#onDeadline = onDeadline
  }

  /** Waiters still waiting in the queue. */
  get size(): number {
    return this.#queue.size
  }

  /** A waiter whose deadline and abort signal are watched from now on; not queued yet. */
  create(kind: 'exclusive' | 'shared', request: AcquireRequest | undefined, site: CallSite | undefined, grant: Grant, fail: Fail): Waiter {
    const now = performance.now()
    const timeoutMs = request?.timeoutMs ?? this.#defaultTimeoutMs
    const waiter: Waiter = {
      kind,
      settled: false,
      queued: false,
      enqueuedAt: now,
      deadline: now + timeoutMs,
      sharedDeadline: timeoutMs === this.#defaultTimeoutMs,
      timer: undefined,
      signal: request?.signal,
      onAbort: undefined,
      site,
      heldBy: request?.heldBy ?? [],
      grant,
      fail,
    }
    if (waiter.sharedDeadline) this.#armDeadlines(timeoutMs)
    else waiter.timer = setTimeout(() => this.#onDeadline(waiter), timeoutMs)
    const signal = waiter.signal
    if (signal !== undefined) {
      waiter.onAbort = () => this.giveUp(waiter, abortErrorFrom(signal.reason))
      signal.addEventListener('abort', waiter.onAbort, { once: true })
    }
    return waiter
  }

  /** Join the back of the queue. */
  enqueue(waiter: Waiter): void {
    waiter.queued = true
    this.#queue.push(waiter)
  }

  /** Back to the head of the queue: its connection failed a check, so it keeps its place. */
  requeueFirst(waiter: Waiter): void {
    waiter.queued = true
    this.#queue.unshift(waiter)
  }

  /** The oldest waiter still waiting, left in the queue. */
  peek(): Waiter | undefined {
    return this.#queue.peek()
  }

  /** Take the oldest waiter out of the queue (still waiting: serve or fail it). */
  shift(): Waiter | undefined {
    const waiter = this.#queue.shift()
    if (waiter !== undefined) waiter.queued = false
    return waiter
  }

  /** Visit the waiters still waiting, oldest first, while `visit` returns true. */
  visit(visit: (waiter: Waiter) => boolean): void {
    this.#queue.visit(visit)
  }

  /** Stop waiting: mark it settled, stop its timer and abort listener, forget it in the queue. */
  settle(waiter: Waiter): void {
    waiter.settled = true
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    if (waiter.queued) {
      waiter.queued = false
      this.#queue.forget()
    }
    if (this.#queue.size === 0 && this.#deadlineTimer !== undefined) {
      clearTimeout(this.#deadlineTimer)
      this.#deadlineTimer = undefined
    }
  }

  /** Stop waiting with `err` (once: a waiter already settled is left alone). */
  giveUp(waiter: Waiter, err: Error): void {
    if (waiter.settled) return
    this.settle(waiter)
    waiter.fail(err)
  }

  /** Everyone waiting hears `err`; the queue is empty afterwards. */
  failAll(err: Error): void {
    for (const waiter of this.#queue.drain()) {
      waiter.queued = false
      this.settle(waiter)
      waiter.fail(err)
    }
  }

  /** The pool closes: no deadline timer may outlive it. */
  stop(): void {
    clearTimeout(this.#deadlineTimer)
    this.#deadlineTimer = undefined
  }

  /**
   * One timer for every waiter on the default timeout: queued in order with one timeout, their
   * deadlines are in queue order too, so only the oldest needs watching. Cleared when nobody
   * waits, so a process whose work is done is not kept alive by it.
   */
  #armDeadlines(inMs: number): void {
    if (this.#deadlineTimer === undefined) this.#deadlineTimer = setTimeout(this.#expire, inMs)
  }

  readonly #expire = (): void => {
    this.#deadlineTimer = undefined
    const now = performance.now()
    const expired: Waiter[] = []
    let next: number | undefined
    this.#queue.visit((waiter) => {
      if (!waiter.sharedDeadline) return true
      if (waiter.deadline > now) {
        next = waiter.deadline
        return false
      }
      expired.push(waiter)
      return true
    })
    for (const waiter of expired) this.#onDeadline(waiter)
    if (next !== undefined && this.#queue.size > 0) this.#armDeadlines(Math.max(1, Math.ceil(next - now)))
  }
}
