/**
 * The connection pool. Every connection is in exactly one state (connecting, idle, lent,
 * resetting, closed); waiters are served first-come-first-served; idle connections are reused
 * most-recently-returned first; nothing dirty is ever lent.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { CallSiteRecorder, captureCallSite, type CallSite } from './call-site.js'
import type { ResolvedOptions } from './config.js'
import {
  abortErrorFrom,
  ConfigError,
  ConnectionError,
  PoolClosedError,
  PoolDeadlockError,
  PoolTimeoutError,
  type HolderInfo,
  type PoolStateSnapshot,
} from './errors.js'
import { LatencyHistogram } from './latency-histogram.js'
import { PooledConnection } from './pooled-connection.js'
import { checkServerCapacity } from './server-capacity.js'
import { StatementNames } from './statement-cache.js'
import { WaitQueue } from './wait-queue.js'

/** Why a connection was closed, as counted in `stats().destroyed`. */
export type DestroyReason = 'broken' | 'lifetime' | 'idle' | 'validation' | 'unclean' | 'closing' | 'released-with-error'

export interface AcquireOptions {
  signal?: AbortSignal | undefined
  /** Overrides `pool.acquireTimeoutMs` for this acquire. */
  timeoutMs?: number | undefined
  /** The connection the caller already holds: fail fast instead of waiting on an exhausted pool. */
  holder?: PooledConnection | undefined
  /** Where the acquiring code called from, kept for leak reports and deadlock errors. */
  site?: CallSite | undefined
}

export interface PoolCounters {
  acquired: number
  released: number
  created: number
  destroyed: Record<DestroyReason, number>
  timeouts: number
  validationFailures: number
  connectFailures: number
  resets: number
  leaks: number
  /** Transactions re-run after a serialization failure or deadlock. */
  retries: number
  /** afterCommit / afterRollback hooks that threw. */
  hookErrors: number
}

export interface PoolStats extends PoolStateSnapshot {
  counters: PoolCounters
  /** Milliseconds acquirers waited, from bucket bounds (approximate, never under the real value by more than a bucket). */
  acquireWaitMs: { p50: number; p90: number; p99: number; max: number; count: number }
}

/** Payloads of the events `db.on(...)` delivers. */
export interface DatabaseEvents {
  acquire: [{ connectionId: number; waitedMs: number }]
  release: [{ connectionId: number; heldMs: number }]
  connect: [{ connectionId: number }]
  destroy: [{ connectionId: number; reason: DestroyReason }]
  timeout: [PoolTimeoutError]
  leak: [{ connectionId: number; heldMs: number; acquiredAt: string | undefined }]
  leakReturned: [{ connectionId: number; heldMs: number }]
  error: [Error]
  warning: [ConfigError]
  /** A transaction is about to be re-run after a serialization failure or deadlock. */
  retry: [{ attempt: number; delayMs: number; error: unknown }]
  /** An afterCommit or afterRollback hook threw; the transaction's outcome stands. */
  hookError: [{ phase: 'afterCommit' | 'afterRollback'; error: unknown }]
}

interface Waiter {
  settled: boolean
  enqueuedAt: number
  site: CallSite | undefined
  resolve: (conn: PooledConnection) => void
  reject: (err: unknown) => void
  /** When it gives up (performance.now() clock). */
  deadline: number
  /** Its deadline is the pool's default one: watched by the shared deadline timer, not its own. */
  sharedDeadline: boolean
  timer: NodeJS.Timeout | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/** SQLSTATEs of connection failures that retrying cannot fix: fail the waiters at once. */
function isPermanentConnectFailure(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return undefined
  return code.startsWith('28') || code === '3D000' || code === '42704' ? code : undefined
}

export class Pool extends EventEmitter<DatabaseEvents> {
  readonly #options: ResolvedOptions
  readonly #clientConfig: pg.ClientConfig
  /** The statement cache's names, shared by every connection; undefined when it is off. */
  readonly #statementNames: StatementNames | undefined
  /** Whether scopes and acquirers record where they were opened; shared with the database's scopes. */
  readonly callSites: CallSiteRecorder
  readonly #all = new Set<PooledConnection>()
  /** Stack: the most recently returned connection is lent first. */
  readonly #idle: PooledConnection[] = []
  readonly #waiters = new WaitQueue<Waiter>()
  #connecting = 0
  #nextId = 1
  #closing = false
  #closed: Promise<void> | undefined
  #fatal: Error | undefined
  #capacityChecked = false
  #connectFailures = 0
  #lastConnectError: unknown
  #retryTimer: NodeJS.Timeout | undefined
  #deadlineTimer: NodeJS.Timeout | undefined
  #housekeeping: NodeJS.Timeout | undefined
  #whenEmpty: (() => void)[] = []
  readonly #waits = new LatencyHistogram()
  readonly holdTimes = new LatencyHistogram()
  readonly counters: PoolCounters = {
    acquired: 0,
    released: 0,
    created: 0,
    destroyed: { broken: 0, lifetime: 0, idle: 0, validation: 0, unclean: 0, closing: 0, 'released-with-error': 0 },
    timeouts: 0,
    validationFailures: 0,
    connectFailures: 0,
    resets: 0,
    leaks: 0,
    retries: 0,
    hookErrors: 0,
  }

  constructor(options: ResolvedOptions, clientConfig: pg.ClientConfig) {
    super()
    this.#options = options
    this.#clientConfig = clientConfig
    this.#statementNames = options.statementCacheSize > 0 ? new StatementNames(options.statementCacheSize) : undefined
    this.callSites = new CallSiteRecorder(options.callSites, options.pool.leakDetectionMs > 0)
    if (options.pool.min > 0) queueMicrotask(() => this.#fill())
  }

  get options(): ResolvedOptions {
    return this.#options
  }

  get closing(): boolean {
    return this.#closing
  }

  // ------------------------------------------------------------------ acquire

  /**
   * Borrow an idle connection synchronously when one can be lent without waiting or checking
   * (nobody queued, recently used); undefined otherwise: then call `acquire`. Saves the hot path
   * a promise.
   */
  acquireNow(site?: CallSite): PooledConnection | undefined {
    if (this.#closing || this.#fatal !== undefined || this.#waiters.size > 0) return undefined
    const conn = this.#idle[this.#idle.length - 1]
    const now = performance.now()
    if (conn === undefined || conn.retireAt <= now || now - conn.idleSince > this.#options.pool.validateAfterIdleMs) return undefined
    this.#idle.pop()
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    this.#lend(conn, 0, site ?? this.#oneShotSite(Pool.prototype.acquireNow))
    return conn
  }

  /** Borrow a connection. Resolves with a clean connection, or rejects with a typed error. */
  acquire(opts?: AcquireOptions): Promise<PooledConnection> {
    // When recorded, the acquirer's stack starts at its call of acquire, not inside the promise.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const site = opts?.site ?? this.callSites.capture(Pool.prototype.acquire)
    const withSite = site === undefined ? opts : { ...opts, site }
    return new Promise<PooledConnection>((resolve, reject) => this.acquireWith(withSite, resolve, reject))
  }

  /**
   * `acquire` with callbacks instead of a promise: for callers that make a promise of their own
   * (a one-shot query), one promise fewer. Exactly one of `resolve` and `reject` is called, maybe
   * before this returns.
   */
  acquireWith(opts: AcquireOptions | undefined, resolve: (conn: PooledConnection) => void, reject: (err: unknown) => void): void {
    if (this.#closing) return reject(new PoolClosedError())
    if (this.#fatal) return reject(this.#fatal)
    if (opts?.signal?.aborted) return reject(abortErrorFrom(opts.signal.reason))
    // Captured here, synchronously, so the stack still shows the caller.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    const site = opts?.site ?? this.#oneShotSite(Pool.prototype.acquireWith)
    if (this.#waiters.size === 0) {
      const conn = this.#takeIdle()
      if (conn !== undefined) {
        this.#lend(conn, 0, site)
        if (performance.now() - conn.idleSince > this.#options.pool.validateAfterIdleMs) {
          this.#validate(conn, { ...opts, site }, performance.now()).then(resolve, reject)
          return
        }
        return resolve(conn)
      }
    }
    const holder = opts?.holder
    if (holder !== undefined && this.#idle.length === 0 && this.#all.size >= this.#options.pool.max) {
      this.callSites.startRecording()
      return reject(
        new PoolDeadlockError(this.snapshot(), {
          connectionId: holder.id,
          heldMs: Math.round(performance.now() - holder.lentAt),
          acquiredAt: holder.acquiredAt?.stack,
        }),
      )
    }
    this.#enqueue(opts, site, performance.now(), resolve, reject)
  }

  /**
   * The fast paths serve one-shot statements (`db.query`), which hold a connection for one round
   * trip and are rarely what exhausts a pool: their call sites are recorded only for leak
   * detection, so a pool that has timed out once does not also slow every query down.
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- V8's API takes any function as the frame boundary
  #oneShotSite(above: Function): CallSite | undefined {
    return this.#options.pool.leakDetectionMs > 0 ? captureCallSite(above) : undefined
  }

  /** Pop the most recent idle connection that is not past its lifetime. */
  #takeIdle(): PooledConnection | undefined {
    const now = performance.now()
    for (;;) {
      const conn = this.#idle.pop()
      if (conn === undefined) return undefined
      if (conn.retireAt > now) return conn
      this.#destroy(conn, 'lifetime')
    }
  }

  /** A connection idle for a while gets a round trip before the caller sees it; a dead one is replaced unseen. */
  async #validate(conn: PooledConnection, opts: AcquireOptions | undefined, startedAt: number): Promise<PooledConnection> {
    try {
      await conn.query({ text: 'SELECT 1' })
      return conn
    } catch {
      this.counters.validationFailures++
      this.counters.acquired--
      this.#destroy(conn, 'validation')
      const spent = performance.now() - startedAt
      const timeoutMs = (opts?.timeoutMs ?? this.#options.pool.acquireTimeoutMs) - spent
      return this.acquire({ ...opts, timeoutMs: Math.max(1, Math.round(timeoutMs)) })
    }
  }

  #enqueue(
    opts: AcquireOptions | undefined,
    site: CallSite | undefined,
    startedAt: number,
    resolve: (conn: PooledConnection) => void,
    reject: (err: unknown) => void,
  ): void {
    const waiter: Waiter = {
      settled: false,
      enqueuedAt: startedAt,
      site,
      resolve,
      reject,
      deadline: 0,
      sharedDeadline: false,
      timer: undefined,
      signal: opts?.signal,
      onAbort: undefined,
    }
    const timeoutMs = opts?.timeoutMs ?? this.#options.pool.acquireTimeoutMs
    waiter.deadline = startedAt + timeoutMs
    if (timeoutMs === this.#options.pool.acquireTimeoutMs) {
      waiter.sharedDeadline = true
      this.#armDeadlines(timeoutMs)
    } else {
      waiter.timer = setTimeout(() => this.#timeOut(waiter), timeoutMs)
    }
    if (waiter.signal) {
      const signal = waiter.signal
      waiter.onAbort = () => this.#giveUp(waiter, abortErrorFrom(signal.reason))
      signal.addEventListener('abort', waiter.onAbort, { once: true })
    }
    this.#waiters.push(waiter)
    this.#fill()
  }

  /**
   * One timer for every waiter on the default timeout: queued in order with one timeout, their
   * deadlines are in queue order too, so only the oldest needs watching. Saves a timer per
   * queued acquire, which under a crowd is most of the pool's own cost.
   */
  #armDeadlines(inMs: number): void {
    if (this.#deadlineTimer === undefined) this.#deadlineTimer = setTimeout(this.#expireWaiters, inMs)
  }

  readonly #expireWaiters = (): void => {
    this.#deadlineTimer = undefined
    const now = performance.now()
    const expired: Waiter[] = []
    let next: number | undefined
    this.#waiters.visit((waiter) => {
      if (!waiter.sharedDeadline) return true
      if (waiter.deadline > now) {
        next = waiter.deadline
        return false
      }
      expired.push(waiter)
      return true
    })
    for (const waiter of expired) this.#timeOut(waiter)
    if (next !== undefined) this.#armDeadlines(Math.max(1, Math.ceil(next - now)))
  }

  #timeOut(waiter: Waiter): void {
    const waited = Math.round(performance.now() - waiter.enqueuedAt)
    const cause = this.#connectFailures > 0 ? this.#lastConnectError : undefined
    const err = new PoolTimeoutError(waited, this.snapshot(), this.holders(), cause)
    this.callSites.startRecording()
    this.counters.timeouts++
    if (this.listenerCount('timeout') > 0) this.emit('timeout', err)
    this.#giveUp(waiter, err)
  }

  #giveUp(waiter: Waiter, err: unknown): void {
    if (waiter.settled) return
    this.#settleWaiter(waiter)
    this.#waiters.forget()
    waiter.reject(err)
  }

  #settleWaiter(waiter: Waiter): void {
    waiter.settled = true
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }

  #lend(conn: PooledConnection, waitedMs: number, site: CallSite | undefined): void {
    conn.state = 'lent'
    conn.lentAt = performance.now()
    conn.acquiredAt = site
    this.counters.acquired++
    this.#waits.record(waitedMs)
    const leakMs = this.#options.pool.leakDetectionMs
    if (leakMs > 0) {
      conn.leaked = false
      conn.leakTimer = setTimeout(() => this.#reportLeak(conn), leakMs)
      conn.leakTimer.unref()
    }
    if (this.listenerCount('acquire') > 0) this.emit('acquire', { connectionId: conn.id, waitedMs })
  }

  #reportLeak(conn: PooledConnection): void {
    conn.leaked = true
    this.counters.leaks++
    this.emit('leak', { connectionId: conn.id, heldMs: Math.round(performance.now() - conn.lentAt), acquiredAt: conn.acquiredAt?.stack })
  }

  /** Give a connection that just became free to the oldest waiter, or shelve it. */
  #makeAvailable(conn: PooledConnection): void {
    const waiter = this.#waiters.shift()
    if (waiter === undefined) {
      conn.state = 'idle'
      conn.idleSince = performance.now()
      this.#idle.push(conn)
      return
    }
    this.#settleWaiter(waiter)
    this.#lend(conn, performance.now() - waiter.enqueuedAt, waiter.site)
    waiter.resolve(conn)
  }

  // ------------------------------------------------------------------ release

  /**
   * Take a connection back. A clean one is lent on at once; one inside a transaction, with a
   * query in flight, or with changed session state is cleaned first (or destroyed if it cannot be).
   */
  release(conn: PooledConnection, destroy?: boolean): void {
    if (conn.state !== 'lent') {
      if (conn.state === 'closed') return // cut off by close() or broken while lent: nothing to give back
      throw new Error(`pgsteward: connection #${conn.id} released while ${conn.state}`)
    }
    this.counters.released++
    const heldMs = performance.now() - conn.lentAt
    this.holdTimes.record(heldMs)
    if (conn.leakTimer !== undefined) {
      clearTimeout(conn.leakTimer)
      conn.leakTimer = undefined
      if (conn.leaked) this.emit('leakReturned', { connectionId: conn.id, heldMs: Math.round(heldMs) })
    }
    if (this.listenerCount('release') > 0) this.emit('release', { connectionId: conn.id, heldMs })
    conn.acquiredAt = undefined
    if (destroy === true) return this.#destroy(conn, 'released-with-error')
    if (conn.broken) return this.#destroy(conn, 'broken')
    if (conn.busy || conn.transactionStatus !== 'I' || conn.sessionChanged) {
      conn.state = 'resetting'
      void this.#reset(conn)
      return
    }
    this.#shelve(conn)
  }

  #shelve(conn: PooledConnection): void {
    if (this.#closing) return this.#destroy(conn, 'closing')
    if (conn.retireAt <= performance.now()) return this.#destroy(conn, 'lifetime')
    this.#makeAvailable(conn)
  }

  /** Bring a returned connection back to a known idle state within the grace period, or destroy it. */
  async #reset(conn: PooledConnection): Promise<void> {
    const grace = this.#options.cancelGraceMs
    this.counters.resets++
    let clean = false
    try {
      if (conn.busy && !(await cancelUntilQuiet(conn, grace))) return
      if (conn.broken) return
      if (conn.transactionStatus !== 'I') await withDeadline(conn.query({ text: 'ROLLBACK' }), grace)
      if (conn.sessionChanged) {
        await withDeadline(conn.query({ text: 'DISCARD ALL' }), grace)
        conn.forgetPreparedStatements()
        conn.sessionChanged = false
      }
      clean = !conn.broken && !conn.busy && conn.transactionStatus === 'I'
    } catch {
      clean = false
    } finally {
      if (conn.state === 'closed') {
        // close() cut it off while it was being cleaned.
      } else if (clean) {
        this.#shelve(conn)
      } else {
        if (conn.inFlight > 0) void conn.cancel(grace)
        this.#destroy(conn, conn.broken ? 'broken' : 'unclean')
      }
    }
  }

  // ------------------------------------------------------------------ creating and destroying

  /** Open connections for queued waiters and up to `min`, within `max`, unless backing off. */
  #fill(): void {
    if (this.#closing || this.#fatal || this.#retryTimer !== undefined) return
    const { max, min } = this.#options.pool
    const wanted = Math.max(this.#waiters.size - this.#connecting, min - this.#all.size)
    const room = max - this.#all.size
    for (let i = 0; i < Math.min(wanted, room); i++) this.#open()
  }

  #open(): void {
    const conn = new PooledConnection(this.#nextId++, this.#clientConfig, (c) => this.#onBroken(c), this.#statementNames)
    this.#all.add(conn)
    this.#connecting++
    this.#startHousekeeping()
    conn.connect().then(
      () => this.#onConnected(conn),
      (err: unknown) => this.#onConnectFailed(conn, err),
    )
  }

  #onConnected(conn: PooledConnection): void {
    this.#connecting--
    this.#connectFailures = 0
    this.counters.created++
    const now = performance.now()
    const { maxLifetimeMs, maxLifetimeJitter } = this.#options.pool
    conn.createdAt = now
    conn.retireAt = maxLifetimeMs > 0 ? now + maxLifetimeMs * (1 - maxLifetimeJitter * Math.random()) : Infinity
    conn.idleSince = now
    if (this.listenerCount('connect') > 0) this.emit('connect', { connectionId: conn.id })
    if (this.#closing) return this.#destroy(conn, 'closing')
    if (conn.broken) return this.#destroy(conn, 'broken')
    if (!this.#capacityChecked) {
      this.#capacityChecked = true
      conn.state = 'resetting'
      void this.#checkCapacity(conn)
      return
    }
    this.#makeAvailable(conn)
    // More waiters may have queued while this one connected.
    this.#fill()
  }

  async #checkCapacity(conn: PooledConnection): Promise<void> {
    const problem = await checkServerCapacity(conn, this.#options.pool.max).catch(() => undefined)
    if (conn.state === 'closed') return
    if (problem !== undefined) {
      const err = new ConfigError([problem])
      if (this.#options.strict) {
        this.#fatal = err
        this.#destroy(conn, 'closing')
        for (const waiter of this.#waiters.drain()) {
          this.#settleWaiter(waiter)
          waiter.reject(err)
        }
        return
      }
      if (this.listenerCount('warning') > 0) this.emit('warning', err)
      else process.emitWarning(err.message, 'PgStewardWarning')
    }
    if (conn.broken) this.#destroy(conn, 'broken')
    else this.#shelve(conn)
    this.#fill()
  }

  #onConnectFailed(conn: PooledConnection, err: unknown): void {
    this.#connecting--
    this.#all.delete(conn)
    conn.state = 'closed'
    this.#connectFailures++
    this.#lastConnectError = err
    this.counters.connectFailures++
    if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)))
    this.#notifyIfEmpty()
    if (this.#closing) return
    const permanent = isPermanentConnectFailure(err)
    if (permanent !== undefined) {
      const failure = new ConnectionError(
        `Could not connect to PostgreSQL (SQLSTATE ${permanent}): ${(err as Error).message}. Check the user, password and database name in the connection settings.`,
        err,
        permanent,
      )
      for (const waiter of this.#waiters.drain()) {
        this.#settleWaiter(waiter)
        waiter.reject(failure)
      }
      return
    }
    // Server unreachable or restarting: try again with jittered exponential backoff while anyone needs a connection.
    if (this.#retryTimer === undefined && (this.#waiters.size > 0 || this.#all.size < this.#options.pool.min)) {
      // Capped at a second: once the server is back, waiters should not sit out a long backoff.
      const delay = Math.min(1_000, 25 * 2 ** Math.min(this.#connectFailures - 1, 10)) * (0.5 + Math.random() / 2)
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined
        this.#fill()
      }, delay)
      this.#retryTimer.unref()
    }
  }

  #onBroken(conn: PooledConnection): void {
    // An idle connection whose socket died is removed now; a lent one when its holder returns it.
    if (conn.state !== 'idle') return
    if (this.listenerCount('error') > 0) this.emit('error', conn.brokenBy instanceof Error ? conn.brokenBy : new Error(String(conn.brokenBy)))
    this.#destroy(conn, 'broken')
  }

  #destroy(conn: PooledConnection, reason: DestroyReason): void {
    if (conn.state === 'closed') return
    if (conn.state === 'idle') {
      const index = this.#idle.indexOf(conn)
      if (index >= 0) this.#idle.splice(index, 1)
    }
    this.#all.delete(conn)
    this.counters.destroyed[reason]++
    void conn.close(reason !== 'idle' && reason !== 'lifetime' && reason !== 'closing')
    if (this.listenerCount('destroy') > 0) this.emit('destroy', { connectionId: conn.id, reason })
    this.#notifyIfEmpty()
    // A waiter or `min` may need the slot this connection held.
    if (!this.#closing) this.#fill()
  }

  #notifyIfEmpty(): void {
    if (this.#all.size === 0 && this.#whenEmpty.length > 0) {
      for (const resolve of this.#whenEmpty.splice(0)) resolve()
    }
  }

  // ------------------------------------------------------------------ housekeeping

  #startHousekeeping(): void {
    if (this.#housekeeping !== undefined || this.#closing) return
    const { idleTimeoutMs, maxLifetimeMs } = this.#options.pool
    const horizon = Math.min(idleTimeoutMs || Infinity, maxLifetimeMs || Infinity, 10_000)
    // Fine enough that retirements spread by jitter are not batched into one sweep.
    const every = Math.max(25, Math.min(1_000, Math.floor(horizon / 20)))
    this.#housekeeping = setInterval(() => this.#sweep(), every)
    this.#housekeeping.unref()
  }

  /** Retire idle connections past their lifetime or idle timeout (down to `min`), then refill `min`. */
  #sweep(): void {
    const now = performance.now()
    const { idleTimeoutMs, min } = this.#options.pool
    for (const conn of [...this.#idle]) {
      if (conn.retireAt <= now) this.#destroy(conn, 'lifetime')
    }
    // The bottom of the stack has been idle longest.
    while (idleTimeoutMs > 0 && this.#all.size > min) {
      const oldest = this.#idle[0]
      if (oldest === undefined || now - oldest.idleSince < idleTimeoutMs) break
      this.#destroy(oldest, 'idle')
    }
    this.#fill()
  }

  // ------------------------------------------------------------------ close and observe

  /**
   * Stop taking work, wait for lent connections to come back, and at the deadline cancel and cut
   * whatever is still out. Resolves when every socket is closed.
   */
  close(timeoutMs = 10_000): Promise<void> {
    if (this.#closed) return this.#closed
    this.#closing = true
    clearInterval(this.#housekeeping)
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#deadlineTimer)
    const closed = new PoolClosedError()
    for (const waiter of this.#waiters.drain()) {
      this.#settleWaiter(waiter)
      waiter.reject(closed)
    }
    for (const conn of [...this.#idle]) this.#destroy(conn, 'closing')
    this.#closed = (async () => {
      const drained = this.#all.size === 0 || (await this.#waitEmpty(timeoutMs))
      if (!drained) {
        const grace = this.#options.cancelGraceMs
        await Promise.all([...this.#all].filter((conn) => conn.inFlight > 0).map((conn) => conn.cancel(grace)))
        for (const conn of [...this.#all]) this.#destroy(conn, 'closing')
      }
    })()
    return this.#closed
  }

  #waitEmpty(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      timer.unref()
      this.#whenEmpty.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** Current gauges. */
  snapshot(): PoolStateSnapshot {
    return {
      total: this.#all.size,
      idle: this.#idle.length,
      // Every connection is in exactly one state, so in use (lent or being cleaned) is what is left.
      inUse: this.#all.size - this.#idle.length - this.#connecting,
      waiting: this.#waiters.size,
      connecting: this.#connecting,
      max: this.#options.pool.max,
    }
  }

  stats(): PoolStats {
    const w = this.#waits
    return {
      ...this.snapshot(),
      counters: { ...this.counters, destroyed: { ...this.counters.destroyed } },
      acquireWaitMs: { p50: w.percentile(0.5), p90: w.percentile(0.9), p99: w.percentile(0.99), max: w.maxMs, count: w.count },
    }
  }

  /** A live connection by id (for adapters that hand out per-connection objects). */
  connectionById(id: number): PooledConnection | undefined {
    for (const conn of this.#all) if (conn.id === id) return conn
    return undefined
  }

  /** Lent connections already past their lifetime: they are retired when returned. */
  expiredCount(): number {
    const now = performance.now()
    let n = 0
    for (const conn of this.#all) if (conn.state === 'lent' && conn.retireAt <= now) n++
    return n
  }

  /** Lent connections whose acquirer was recorded, longest-held first. */
  holders(): HolderInfo[] {
    const now = performance.now()
    const out: HolderInfo[] = []
    for (const conn of this.#all) {
      if (conn.state === 'lent' && conn.acquiredAt !== undefined) {
        out.push({ connectionId: conn.id, heldMs: Math.round(now - conn.lentAt), acquiredAt: conn.acquiredAt.stack })
      }
    }
    return out.sort((a, b) => b.heldMs - a.heldMs)
  }

  /** The last connection failure, while connecting keeps failing; undefined once one succeeds. */
  get lastConnectError(): unknown {
    return this.#connectFailures > 0 ? this.#lastConnectError : undefined
  }
}

/**
 * Cancel what a connection is running and wait for it to go quiet, within `graceMs`. A
 * CancelRequest that reaches the server before the statement started is ignored, so it is sent
 * again while the statement is still running. One that only awaits its ReadyForQuery just finishes.
 */
async function cancelUntilQuiet(conn: PooledConnection, graceMs: number): Promise<boolean> {
  const deadline = performance.now() + graceMs
  for (;;) {
    const left = deadline - performance.now()
    if (left <= 0) return false
    if (conn.inFlight > 0) await conn.cancel(left)
    if (await conn.whenQuiet(Math.min(left, 100))) return true
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    timer.unref()
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}
