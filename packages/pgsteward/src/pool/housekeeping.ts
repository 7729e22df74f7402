/**
 * The pool's clock work for idle connections: a sweep at an interval fine enough for the
 * configured idle timeout and lifetime, an extra sweep on time when the idle timeout is shorter
 * than that interval, and which idle connections a sweep retires. Timers never keep the process
 * alive. Destroying and refilling stay with the pool.
 */
import type { PoolOptions } from '../options/database-options.js'
import type { ConnectionStates } from './connection-states.js'
import type { PooledConnection } from './pooled-connection.js'

type Timing = Pick<Required<PoolOptions>, 'idleTimeoutMs' | 'maxLifetimeMs' | 'min'>

/** An idle connection a sweep retires, and why. */
export interface Retirement {
  conn: PooledConnection
  reason: 'lifetime' | 'idle'
}

export class Housekeeping {
  readonly #timing: Timing
  readonly #sweep: () => void
  #interval: NodeJS.Timeout | undefined
  #everyMs = 0
  /** An idle timeout shorter than the sweep interval gets a sweep of its own when a connection goes idle. */
  #shortIdle: NodeJS.Timeout | undefined
  #stopped = false

  constructor(timing: Timing, sweep: () => void) {
    this.#timing = timing
    this.#sweep = sweep
  }

  /** Start sweeping (once; the first connection being opened starts it). */
  start(): void {
    if (this.#interval !== undefined || this.#stopped) return
    const { idleTimeoutMs, maxLifetimeMs } = this.#timing
    const horizon = Math.min(idleTimeoutMs || Infinity, maxLifetimeMs || Infinity, 10_000)
    // Fine enough that retirements spread by jitter are not batched into one sweep.
    this.#everyMs = Math.max(25, Math.min(1_000, Math.floor(horizon / 20)))
    this.#interval = setInterval(this.#sweep, this.#everyMs)
    this.#interval.unref()
  }

  /**
   * A connection went idle: an idle timeout below the sweep interval (pg.Pool code uses a few ms)
   * is applied on time, not up to a sweep late. `again` says whether idle connections above
   * `min` remain after that sweep, so it is scheduled once more.
   */
  afterIdle(again: () => boolean): void {
    const { idleTimeoutMs } = this.#timing
    if (idleTimeoutMs <= 0 || idleTimeoutMs >= this.#everyMs || this.#shortIdle !== undefined || this.#stopped) return
    this.#shortIdle = setTimeout(() => {
      this.#shortIdle = undefined
      this.#sweep()
      if (again()) this.afterIdle(again)
    }, idleTimeoutMs + 1)
    this.#shortIdle.unref()
  }

  stop(): void {
    this.#stopped = true
    clearInterval(this.#interval)
    clearTimeout(this.#shortIdle)
  }
}

/**
 * The idle connections a sweep at `now` retires: every one past its lifetime, then the ones idle
 * longer than the idle timeout, oldest first, while more than `min` connections remain.
 */
export function retirements(states: ConnectionStates, timing: Timing, now: number): Retirement[] {
  const { idleTimeoutMs, maxLifetimeMs, min } = timing
  const out: Retirement[] = []
  let remaining = states.total
  for (const conn of states.idle) {
    if (conn.retireAt > now) continue
    out.push({ conn, reason: 'lifetime' })
    remaining--
  }
  // An idle timeout longer than the lifetime never applies; the lifetime retires them first.
  if (idleTimeoutMs <= 0 || (maxLifetimeMs > 0 && idleTimeoutMs > maxLifetimeMs)) return out
  // The bottom of the stack has been idle longest.
  for (const conn of states.idle) {
    if (remaining <= min) break
    if (conn.retireAt <= now) continue
    if (now - conn.since < idleTimeoutMs) break
    out.push({ conn, reason: 'idle' })
    remaining--
  }
  return out
}
