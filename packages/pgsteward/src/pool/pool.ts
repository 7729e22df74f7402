/**
 * The connection pool. Each connection is in exactly one state (connections-states.ts); waiters
 * are served first-come-first-served; idle connections are reused most-recently-returned first;
 * nothing dirty is ever lent; every wait ends by its deadline.
 *
 * Two kinds of borrower: exclusive (a session, a transaction, a checkout: one owner for a while)
 * and shared (one-shot statements, which may be pipelined with other callers' one-shot
 * statements on a connection when every connection is busy).
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { ConfigError, ConnectionError, PoolClosedError, PoolDeadlockError, PoolTimeoutError } from '../errors/error-classes.js'
import type { HolderInfo, PoolStateSnapshot } from '../errors/error-messages.js'
import { abortErrorFrom, isPermanentConnectFailure, isReadOnlyViolation } from '../errors/map-error.js'
import type { ResolvedOptions } from '../options/database-options.js'
import { CallSiteRecorder, captureCallSite, type CallSite } from '../scope/call-site.js'
import { runSimple } from '../wire/run-simple.js'
import { StatementNames } from '../wire/statement-names.js'
import type { WireConnection, WireListeners } from '../wire/wire-connection.js'
import { ConnectAttempts } from './connect-attempts.js'
import { ConnectionStates } from './connection-states.js'
import { resetConnection } from './connection-reset.js'
import { waitCannotEnd } from './deadlock.js'
import { Housekeeping, retirements } from './housekeeping.js'
import { Instrumentation } from './instrumentation.js'
import { connect, connectionFitsTarget } from './connector.js'
import { LatencyHistogram } from './latency-histogram.js'
import { newCounters, type DatabaseEvents, type DestroyReason, type PoolCounters, type PoolStats } from './pool-events.js'
import { PooledConnection, type SlotState } from './pooled-connection.js'
import { emitQueryEventsWhileListened } from './query-event.js'
import { checkServerCapacity } from './server-capacity.js'
import { Waiters, type AcquireRequest, type Fail, type Grant, type Waiter } from './waiters.js'

/** Most one-shot statements of different callers in flight on one connection at once. */
const MAX_PIPELINE_DEPTH = 100

/** How the pool treats a failed attempt to open a connection while callers wait. */
export type ConnectFailurePolicy = 'retry-until-deadline' | 'fail-waiter'

/** Told of every socket of this pool that closed or broke, after the pool handled it, with the state the connection was in. */
export type ConnectionLostListener = (wire: WireConnection, err: Error | undefined, stateWhenLost: SlotState) => void

export class Pool extends EventEmitter<DatabaseEvents> {
  readonly #options: ResolvedOptions
  readonly states = new ConnectionStates()
  readonly counters: PoolCounters = newCounters()
  /** Statements, waits and transactions, for the `query` event, OpenTelemetry and the dashboard. */
  readonly instrumentation = new Instrumentation()
  /** Whether scopes and acquirers record where they were opened; shared with the database's scopes. */
  readonly callSites: CallSiteRecorder
  readonly #statementNames: StatementNames | undefined
  readonly #slotOf = new WeakMap<WireConnection, PooledConnection>()
  readonly #waiters: Waiters
  readonly #waits = new LatencyHistogram()
  readonly #listeners: WireListeners
  #connectFailurePolicy: ConnectFailurePolicy = 'retry-until-deadline'
  #onLost: ConnectionLostListener | undefined
  #closing = false
  #closed: Promise<void> | undefined
  #fatal: Error | undefined
  #capacityChecked = false
  #capacityChecking = false
  readonly #connects = new ConnectAttempts()
  readonly #housekeeping: Housekeeping
  /** Ref'd while any connection is busy (see the constructor). */
  #keepAlive: NodeJS.Timeout | undefined
  #whenEmpty: (() => void)[] = []

  constructor(options: ResolvedOptions) {
    super()
    this.#options = options
    this.#statementNames = options.statementCacheSize > 0 ? new StatementNames(options.statementCacheSize) : undefined
    this.callSites = new CallSiteRecorder(options.callSites, options.pool.leakDetectionMs > 0)
    this.#housekeeping = new Housekeeping(options.pool, () => this.#sweep())
    this.#waiters = new Waiters(options.pool.acquireTimeoutMs, (waiter) => this.#timeOut(waiter))
    // Sockets never keep the process alive by themselves (an idle pool must not); one timer does,
    // while any connection is lent or being checked or cleaned, which is when work is under way.
    this.states.onBusyChange = (busy) => {
      if (!busy) {
        this.#keepAlive?.unref()
        return
      }
      this.#keepAlive ??= setInterval(() => undefined, 2 ** 30)
      this.#keepAlive.ref()
    }
    this.#listeners = {
      closed: (wire, err) => {
        const state = this.#slotOf.get(wire)?.state
        this.#onWireClosed(wire, err)
        if (state !== undefined) this.#onLost?.(wire, err, state)
      },
      parameter: (wire) => this.#onServerParameter(wire),
    }
    if (options.pool.min > 0) queueMicrotask(() => this.#fill())
    emitQueryEventsWhileListened(this, this.instrumentation)
  }

  get options(): ResolvedOptions {
    return this.#options
  }

  get closing(): boolean {
    return this.#closing
  }

  /** The facade fails a waiter with the connection error at once, as pg.Pool does, instead of retrying until its deadline. */
  setConnectFailurePolicy(policy: ConnectFailurePolicy): void {
    this.#connectFailurePolicy = policy
  }

  /** Listen for server notifications and notices on every connection this pool opens. */
  setWireListeners(extra: Pick<WireListeners, 'notification' | 'notice'>): void {
    Object.assign(this.#listeners, extra)
  }

  /** The pg facade hears of lost connections to tell node-postgres-style listeners (the client's and the pool's `error`). */
  setConnectionLostListener(listener: ConnectionLostListener): void {
    this.#onLost = listener
  }

  /**
   * Close a connection nobody holds (idle, or being cleaned after its return) now, politely if
   * it is quiet: the pg facade's client reported an error on it, as node-postgres's pool removes
   * an idle client that emits one. A lent connection is left to its holder.
   */
  discard(conn: PooledConnection): void {
    if (conn.state === 'idle' || conn.state === 'resetting') this.#destroy(conn, 'broken', true)
  }

  // ------------------------------------------------------------------ exclusive borrowing

  /**
   * Borrow a connection for one owner. `grant` or `fail` is called exactly once, maybe before this
   * returns (an idle connection that needs no check is lent synchronously).
   */
  acquire(request: AcquireRequest | undefined, grant: Grant, fail: Fail): void {
    const refusal = this.#refusal(request)
    if (refusal !== undefined) return fail(refusal)
    if (this.#waiters.size === 0) {
      // One clock read for taking and lending: on the hot path each read shows in a profile.
      const now = performance.now()
      const conn = this.#takeIdle(now)
      if (conn !== undefined) return this.#lendIdle(conn, 'exclusive', request, grant, fail, now)
    }
    const deadlock = this.#deadlock(request)
    if (deadlock !== undefined) return fail(deadlock)
    this.#enqueue('exclusive', request, grant, fail)
  }

  /** Take back an exclusively borrowed connection; `destroy` closes it instead (pg's `release(err)`). */
  release(conn: PooledConnection, destroy = false): void {
    if (conn.state !== 'exclusive') {
      if (conn.state === 'closed') return // cut off by close(), nothing to give back
      throw new Error(`pgsteward: connection #${conn.id} released while ${conn.state}`)
    }
    const now = performance.now()
    this.#noteReturn(conn, now)
    this.#takeBack(conn, destroy ? 'released-with-error' : undefined, now)
  }

  // ------------------------------------------------------------------ shared borrowing (one-shot statements)

  /**
   * Borrow a connection for one statement that may share it with other callers' one-shot
   * statements (each its own implicit transaction). When every connection is busy and none can
   * be opened, the statement is pipelined onto the least busy shared connection instead of waiting.
   */
  acquireShared(request: AcquireRequest | undefined, grant: Grant, fail: Fail): void {
    const refusal = this.#refusal(request)
    if (refusal !== undefined) return fail(refusal)
    if (this.#waiters.size === 0) {
      // One clock read for taking and lending: on the hot path each read shows in a profile.
      const now = performance.now()
      const conn = this.#takeIdle(now)
      if (conn !== undefined) return this.#lendIdle(conn, 'shared', request, grant, fail, now)
      if (this.#options.pipelining && this.states.total >= this.#options.pool.max) {
        const busy = this.#leastBusyShared()
        if (busy !== undefined) {
          busy.sharedCount++
          this.counters.pipelined++
          this.#noteLend(busy, 0, request?.site)
          return grant(busy)
        }
      }
    }
    this.#enqueue('shared', request, grant, fail)
  }

  /** One shared statement is done with `conn`. */
  releaseShared(conn: PooledConnection): void {
    if (conn.state !== 'shared') return
    const now = performance.now()
    this.#noteReturn(conn, now)
    if (--conn.sharedCount > 0) return
    this.#takeBack(conn, undefined, now)
  }

  #leastBusyShared(): PooledConnection | undefined {
    let best: PooledConnection | undefined
    for (const conn of this.states.shared) {
      if (conn.sharedCount >= MAX_PIPELINE_DEPTH || conn.wrongServer || conn.wire?.closed !== false) continue
      if (best === undefined || conn.sharedCount < best.sharedCount) best = conn
    }
    return best
  }

  // ------------------------------------------------------------------ lending

  #refusal(request: AcquireRequest | undefined): Error | undefined {
    if (this.#closing) return new PoolClosedError()
    if (this.#fatal !== undefined) return this.#fatal
    if (request?.signal?.aborted) return abortErrorFrom(request.signal.reason)
    return undefined
  }

  /** Waiting could never end (deadlock.ts): the error that says who holds what, instead of a wait until the deadline. */
  #deadlock(request: AcquireRequest | undefined): PoolDeadlockError | undefined {
    const held = request?.heldBy
    if (held === undefined) return undefined
    const heldByWaiters = (each: (conn: PooledConnection) => void): void =>
      this.#waiters.visit((waiter) => {
        for (const conn of waiter.heldBy) each(conn)
        return true
      })
    if (!waitCannotEnd(this.states, this.#options.pool.max, held, heldByWaiters)) return undefined
    const last = held[held.length - 1] as PooledConnection
    this.callSites.startRecording()
    return new PoolDeadlockError(this.snapshot(), {
      connectionId: last.id,
      heldMs: Math.round(performance.now() - last.since),
      acquiredAt: last.acquiredAt?.stack,
    })
  }

  /** Pop the most recent idle connection that is not past its lifetime. */
  #takeIdle(now = performance.now()): PooledConnection | undefined {
    for (;;) {
      const conn = this.states.idle[this.states.idle.length - 1]
      if (conn === undefined) return undefined
      if (conn.retireAt > now && conn.wire?.closed === false && !conn.wrongServer) return conn
      this.#destroy(conn, conn.retireAt <= now ? 'lifetime' : conn.wrongServer ? 'wrong-server' : 'broken')
    }
  }

  /** Lend an idle connection, checking it first with a round trip if it has been idle a while. */
  #lendIdle(conn: PooledConnection, kind: 'exclusive' | 'shared', request: AcquireRequest | undefined, grant: Grant, fail: Fail, now: number): void {
    const site = request?.site ?? this.#oneShotSite()
    if (!this.#needsValidation(conn, now)) {
      this.#lend(conn, kind, 0, site, now)
      return grant(conn)
    }
    // Validation counts against the caller's deadline, like any other wait.
    const waiter = this.#newWaiter(kind, request, grant, fail)
    this.#validate(conn, waiter)
  }

  #oneShotSite(): CallSite | undefined {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- a stack-frame boundary, never called
    return this.#options.pool.leakDetectionMs > 0 ? captureCallSite(Pool.prototype.acquire) : undefined
  }

  #lend(conn: PooledConnection, kind: 'exclusive' | 'shared', waitedMs: number, site: CallSite | undefined, now: number): void {
    this.states.move(conn, kind, now)
    conn.sharedCount = kind === 'shared' ? 1 : 0
    this.#noteLend(conn, waitedMs, site)
  }

  #noteLend(conn: PooledConnection, waitedMs: number, site: CallSite | undefined): void {
    this.counters.acquired++
    this.#waits.record(waitedMs)
    if (conn.state === 'exclusive') {
      conn.acquiredAt = site
      const leakMs = this.#options.pool.leakDetectionMs
      if (leakMs > 0) {
        conn.leaked = false
        conn.leakTimer = setTimeout(() => this.#reportLeak(conn), leakMs)
        conn.leakTimer.unref()
      }
    }
    if (this.listenerCount('acquire') > 0) this.emit('acquire', { connectionId: conn.id, waitedMs })
  }

  #noteReturn(conn: PooledConnection, now: number): void {
    this.counters.released++
    const heldMs = now - conn.since
    if (conn.leakTimer !== undefined) {
      clearTimeout(conn.leakTimer)
      conn.leakTimer = undefined
      if (conn.leaked) this.emit('leakReturned', { connectionId: conn.id, heldMs: Math.round(heldMs) })
    }
    if (this.listenerCount('release') > 0) this.emit('release', { connectionId: conn.id, heldMs })
    conn.acquiredAt = undefined
  }

  #reportLeak(conn: PooledConnection): void {
    conn.leaked = true
    this.counters.leaks++
    this.emit('leak', { connectionId: conn.id, heldMs: Math.round(performance.now() - conn.since), acquiredAt: conn.acquiredAt?.stack })
  }

  // ------------------------------------------------------------------ waiting

  #newWaiter(kind: 'exclusive' | 'shared', request: AcquireRequest | undefined, grant: Grant, fail: Fail): Waiter {
    return this.#waiters.create(kind, request, request?.site ?? (kind === 'shared' ? this.#oneShotSite() : undefined), grant, fail)
  }

  #enqueue(kind: 'exclusive' | 'shared', request: AcquireRequest | undefined, grant: Grant, fail: Fail): void {
    this.#waiters.enqueue(this.#newWaiter(kind, request, grant, fail))
    this.#fill()
  }

  /** The error of a wait that reached its deadline: the connection error while the server cannot be reached. */
  #deadlineError(waiter: Waiter): Error {
    const waited = Math.round(performance.now() - waiter.enqueuedAt)
    const open = this.states.total - this.states.connecting.size
    if (this.#connects.failures > 0 && open === 0) return this.#connectionError(this.#connects.lastError)
    const err = new PoolTimeoutError(waited, this.snapshot(), this.holders())
    this.counters.timeouts++
    if (this.listenerCount('timeout') > 0) this.emit('timeout', err)
    return err
  }

  #timeOut(waiter: Waiter): void {
    if (waiter.settled) return
    this.callSites.startRecording()
    this.#waiters.giveUp(waiter, this.#deadlineError(waiter))
  }

  #serveWaiter(conn: PooledConnection, waiter: Waiter, now = performance.now()): void {
    this.#waiters.settle(waiter)
    this.#lend(conn, waiter.kind, now - waiter.enqueuedAt, waiter.site, now)
    waiter.grant(conn)
  }

  /** A clean connection is free: give it to the oldest waiter (and, if shared, to the shared waiters behind), or shelve it. */
  #offer(conn: PooledConnection, now = performance.now()): void {
    const waiter = this.#waiters.shift()
    if (waiter === undefined) {
      this.states.move(conn, 'idle', now)
      this.#notifyIfEmpty()
      this.#housekeeping.afterIdle(this.#idleAboveMin)
      return
    }
    this.#serveWaiter(conn, waiter, now)
    if (waiter.kind !== 'shared' || !this.#options.pipelining) return
    // Waiters that connections being opened will serve are left for them: pipelining is for when there is no other connection to be had.
    while (conn.sharedCount < MAX_PIPELINE_DEPTH && this.#waiters.size > this.#comingSoon() && this.#waiters.peek()?.kind === 'shared') {
      const next = this.#waiters.shift() as Waiter
      this.#waiters.settle(next)
      conn.sharedCount++
      this.counters.pipelined++
      this.#noteLend(conn, now - next.enqueuedAt, next.site)
      next.grant(conn)
    }
  }

  /** Connections about to be offered to the queue: being opened, or being checked right after opening. */
  #comingSoon(): number {
    return this.states.connecting.size + (this.#capacityChecking ? 1 : 0)
  }

  // ------------------------------------------------------------------ validating

  /** A round trip within the waiter's deadline; a connection that fails it is replaced unseen. */
  #validate(conn: PooledConnection, waiter: Waiter): void {
    this.states.move(conn, 'validating')
    const wire = conn.wire as WireConnection
    const left = Math.max(1, Math.ceil(waiter.deadline - performance.now()))
    runSimple(wire, '', left)
      .then(() => {
        // The round trip may have brought news that the server was demoted (default_transaction_read_only).
        if (conn.wrongServer) throw new Error('the server no longer fits target_session_attrs')
      })
      .then(
        () => {
          conn.suspect = false
          if (conn.state !== 'validating') return
          if (waiter.settled) return this.#takeBack(conn, undefined)
          this.#serveWaiter(conn, waiter)
        },
        () => {
          this.counters.validationFailures++
          this.#destroy(conn, conn.wrongServer ? 'wrong-server' : 'validation')
          if (waiter.settled) return
          if (performance.now() >= waiter.deadline) return this.#timeOut(waiter)
          // Keep its place at the head of the queue and look again.
          const idle = this.#waiters.size === 0 ? this.#takeIdle() : undefined
          if (idle !== undefined) return this.#validateOrServe(idle, waiter)
          this.#waiters.requeueFirst(waiter)
          this.#fill()
        },
      )
  }

  #validateOrServe(conn: PooledConnection, waiter: Waiter): void {
    if (this.#needsValidation(conn)) this.#validate(conn, waiter)
    else this.#serveWaiter(conn, waiter)
  }

  /** Idle for a while, or idle when another connection was lost: check it with a round trip before lending. */
  #needsValidation(conn: PooledConnection, now = performance.now()): boolean {
    return conn.suspect || now - conn.since > this.#options.pool.validateAfterIdleMs
  }

  // ------------------------------------------------------------------ taking back

  /**
   * A connection came back. A clean one is lent on at once; one inside a transaction, with
   * something in flight, or with changed session state is cleaned first (or destroyed).
   */
  #takeBack(conn: PooledConnection, forced: DestroyReason | undefined, now = performance.now()): void {
    const wire = conn.wire
    if (forced !== undefined) return this.#destroy(conn, forced)
    if (wire === undefined || wire.closed) return this.#destroy(conn, 'broken')
    if (conn.wrongServer) return this.#destroy(conn, 'wrong-server')
    if (!wire.quiet || wire.transactionStatus !== 'I' || wire.sessionDirty) {
      this.states.move(conn, 'resetting')
      void this.#reset(conn, wire)
      return
    }
    this.#shelve(conn, now)
  }

  #shelve(conn: PooledConnection, now = performance.now()): void {
    if (this.#closing) return this.#destroy(conn, 'closing')
    if (conn.retireAt <= now) return this.#destroy(conn, 'lifetime')
    this.#offer(conn, now)
  }

  /** Bring a returned connection back to a known idle state within the grace period (connection-reset.ts), or destroy it. */
  async #reset(conn: PooledConnection, wire: WireConnection): Promise<void> {
    this.counters.resets++
    const clean = await resetConnection(wire, this.#options.cancelGraceMs, this.#options.pooler)
    // close() may have cut it off while it was being cleaned.
    if (conn.state !== 'resetting') return
    if (clean) this.#shelve(conn)
    else this.#destroy(conn, wire.closed ? 'broken' : 'unclean')
  }

  /** A statement failed: a read-only answer on a pool that needs a primary means the server was demoted under us. */
  noteStatementFailure(conn: PooledConnection, err: unknown, inReadOnlyTransaction: boolean): void {
    if (inReadOnlyTransaction || !isReadOnlyViolation(err)) return
    const target = this.#options.connection.targetSessionAttrs
    if (target !== 'read-write' && target !== 'primary') return
    conn.wrongServer = true
    // Its idle siblings may sit on the same demoted server: each gets a round trip before it is lent,
    // which brings the server's new default_transaction_read_only (and so evicts them) unseen.
    for (const idle of this.states.idle) idle.suspect = true
  }

  // ------------------------------------------------------------------ opening and closing connections

  readonly #refill = (): void => this.#fill()

  /** Open connections for queued waiters and up to `min`, within `max`, unless backing off. */
  #fill(): void {
    if (this.#closing || this.#fatal !== undefined || this.#connects.backingOff) return
    const { max, min } = this.#options.pool
    const s = this.states
    // A connection being checked right after opening (the capacity check) is about to serve a waiter too.
    const wanted = Math.max(this.#waiters.size - this.#comingSoon(), min - s.total)
    const room = max - s.total
    for (let i = 0; i < Math.min(wanted, room); i++) this.#open()
  }

  #open(): void {
    const conn = new PooledConnection()
    this.states.move(conn, 'connecting')
    this.#housekeeping.start()
    connect({
      settings: this.#options.connection,
      pipelining: this.#options.pipelining,
      statementNames: this.#statementNames,
      listeners: this.#listeners,
    }).then(
      (wire) => this.#onConnected(conn, wire),
      (err: unknown) => this.#onConnectFailed(conn, err),
    )
  }

  #onConnected(conn: PooledConnection, wire: WireConnection): void {
    // Still the time it entered 'connecting': how long opening it took.
    const connectMs = performance.now() - conn.since
    conn.wire = wire
    // The pool's keep-alive timer holds the process while work is under way; a socket never does.
    wire.setRef(false)
    this.#slotOf.set(wire, conn)
    this.#connects.succeeded()
    this.counters.created++
    const { maxLifetimeMs, maxLifetimeJitter } = this.#options.pool
    conn.retireAt = maxLifetimeMs > 0 ? performance.now() + maxLifetimeMs * (1 - maxLifetimeJitter * Math.random()) : Infinity
    if (this.listenerCount('connect') > 0) this.emit('connect', { connectionId: conn.id, connectMs })
    if (this.#closing) return this.#destroy(conn, 'closing')
    if (wire.closed) return this.#destroy(conn, 'broken')
    if (!this.#capacityChecked && this.#options.pooler === 'none') {
      this.#capacityChecked = true
      this.#capacityChecking = true
      this.states.move(conn, 'validating')
      void this.#checkCapacity(conn, wire)
      return
    }
    this.#offer(conn)
    // More waiters may have queued while this one connected.
    this.#fill()
  }

  async #checkCapacity(conn: PooledConnection, wire: WireConnection): Promise<void> {
    const problem = await checkServerCapacity(wire, this.#options.pool.max, this.#options.pool.connectTimeoutMs).catch(() => undefined)
    this.#capacityChecking = false
    if (conn.state !== 'validating') return
    if (problem !== undefined) {
      const err = new ConfigError([problem])
      if (this.#options.strict) {
        this.#fatal = err
        this.#destroy(conn, 'closing')
        this.#failAllWaiters(err)
        return
      }
      if (this.listenerCount('warning') > 0) this.emit('warning', err)
      else process.emitWarning(err.message, 'PgStewardWarning')
    }
    this.#takeBack(conn, undefined)
    this.#fill()
  }

  #connectionError(cause: unknown): ConnectionError {
    return this.#connects.error(cause, this.#options.connection.describe())
  }

  #onConnectFailed(conn: PooledConnection, err: unknown): void {
    this.states.move(conn, 'closed')
    this.#connects.failed(err)
    this.counters.connectFailures++
    if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)))
    this.#notifyIfEmpty()
    if (this.#closing) return
    if (isPermanentConnectFailure(err)) {
      // Credentials, an unknown database, TLS refused: retrying cannot help; everyone waiting hears why now.
      this.#failAllWaiters(this.#connectionError(err))
      return
    }
    if (this.#connectFailurePolicy === 'fail-waiter') {
      const waiter = this.#waiters.shift()
      if (waiter !== undefined) {
        this.#waiters.settle(waiter)
        waiter.fail(this.#connectionError(err))
      }
    }
    // Server unreachable or restarting: try again after a short backoff while anyone needs a connection.
    if (this.#waiters.size > 0 || this.states.total < this.#options.pool.min) this.#connects.retryLater(this.#refill)
  }

  #failAllWaiters(err: Error): void {
    this.#waiters.failAll(err)
  }

  #onWireClosed(wire: WireConnection, err: Error | undefined): void {
    const conn = this.#slotOf.get(wire)
    if (conn === undefined) return
    // One connection lost to the server (a restart, pg_terminate_backend, a failover) makes the idle
    // others suspect: each gets a round trip before it is lent, so a dead one is replaced unseen.
    if (err !== undefined) for (const idle of this.states.idle) idle.suspect = true
    // An idle connection whose socket died is removed now; a lent one when its holder returns it
    // (its statements in flight have already failed with the connection error).
    if (conn.state !== 'idle') return
    if (err !== undefined && this.listenerCount('error') > 0) this.emit('error', err)
    this.#destroy(conn, 'broken')
  }

  #onServerParameter(wire: WireConnection): void {
    const conn = this.#slotOf.get(wire)
    if (conn === undefined || connectionFitsTarget(wire, this.#options.connection.targetSessionAttrs)) return
    conn.wrongServer = true
    if (conn.state === 'idle') this.#destroy(conn, 'wrong-server')
  }

  #destroy(conn: PooledConnection, reason: DestroyReason, politely = false): void {
    if (conn.state === 'closed') return
    this.states.move(conn, 'closed')
    if (conn.leakTimer !== undefined) clearTimeout(conn.leakTimer)
    const wire = conn.wire
    if (wire !== undefined) {
      const polite = (politely || reason === 'idle' || reason === 'lifetime' || reason === 'closing' || reason === 'wrong-server') && wire.quiet
      if (polite) wire.terminate()
      else wire.destroy()
    }
    this.counters.destroyed[reason]++
    if (this.listenerCount('destroy') > 0) this.emit('destroy', { connectionId: conn.id, reason })
    this.#notifyIfEmpty()
    // A waiter or `min` may need the slot this connection held.
    if (!this.#closing) this.#fill()
  }

  readonly #idleAboveMin = (): boolean => this.states.idle.length > this.#options.pool.min

  #notifyIfEmpty(): void {
    if (this.#whenEmpty.length === 0) return
    const s = this.states
    if (s.total - s.idle.length === 0) for (const resolve of this.#whenEmpty.splice(0)) resolve()
  }

  // ------------------------------------------------------------------ housekeeping

  /** Retire idle connections past their lifetime or idle timeout (down to `min`), then refill `min`. */
  #sweep(): void {
    for (const { conn, reason } of retirements(this.states, this.#options.pool, performance.now())) this.#destroy(conn, reason)
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
    this.#housekeeping.stop()
    this.#connects.stop()
    this.#waiters.stop()
    this.#failAllWaiters(new PoolClosedError())
    for (const conn of [...this.states.idle]) this.#destroy(conn, 'closing')
    this.#closed = (async () => {
      const drained = this.states.total === 0 || (await this.#waitEmpty(timeoutMs))
      if (!drained) {
        const grace = this.#options.cancelGraceMs
        const busy = [...this.states.all()].filter((c) => c.wire !== undefined && c.wire.inFlight > 0)
        await Promise.all(busy.map((c) => (c.wire as WireConnection).cancel(grace)))
      }
      for (const conn of [...this.states.all()]) this.#destroy(conn, 'closing')
      clearInterval(this.#keepAlive)
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
      this.#notifyIfEmpty()
    })
  }

  /** Current gauges. */
  snapshot(): PoolStateSnapshot {
    const s = this.states
    return {
      total: s.total,
      idle: s.idle.length,
      inUse: s.inUse,
      waiting: this.#waiters.size,
      connecting: s.connecting.size,
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

  /** Exclusively lent connections already past their lifetime: they are retired when returned. */
  expiredCount(): number {
    const now = performance.now()
    let n = 0
    for (const conn of this.states.exclusive) if (conn.retireAt <= now) n++
    return n
  }

  /** Exclusively lent connections whose acquirer was recorded, longest-held first. */
  holders(): HolderInfo[] {
    const now = performance.now()
    const out: HolderInfo[] = []
    for (const conn of this.states.exclusive) {
      if (conn.acquiredAt !== undefined) out.push({ connectionId: conn.id, heldMs: Math.round(now - conn.since), acquiredAt: conn.acquiredAt.stack })
    }
    return out.sort((a, b) => b.heldMs - a.heldMs)
  }

  /** The server version of any open connection. */
  get serverVersion(): string | undefined {
    for (const conn of this.states.all()) if (conn.wire?.serverVersion !== undefined) return conn.wire.serverVersion
    return undefined
  }

  /** The last connection failure, while connecting keeps failing; undefined once one succeeds. */
  get lastConnectError(): unknown {
    return this.#connects.lastError
  }
}
