/**
 * What the live dashboard shows, sampled once per interval for every page watching one database:
 * one sampler per database and interval, however many pages are open, so a page costs one write
 * per sample. It listens to the pool (statements, acquires, leaks, timeouts) only while at least
 * one page watches, and lets go of everything when the last one leaves.
 */
import { performance } from 'node:perf_hooks'
import type { DatabaseInternals } from '../database-internals.js'
import { shownText } from '../observe/statement-label.js'
import { LatencyHistogram } from '../pool/latency-histogram.js'
import type { DatabaseEvents } from '../pool/pool-events.js'
import type { PooledConnection } from '../pool/pooled-connection.js'

/** Acquire-wait percentiles cover this much recent time. */
const WAIT_WINDOW_MS = 10_000
/** Slowest statements cover this much recent time. */
const SLOW_WINDOW_MS = 300_000
/** Distinct statements kept per sample interval: the slowest ones. */
const SLOW_PER_BUCKET = 20
const SLOWEST_SHOWN = 10
const HOLDERS_SHOWN = 50
const RECENT_EVENTS = 10
/** Points of history a page gets when it opens, for its charts. */
const HISTORY_POINTS = 120

export interface SlowStatement {
  /** SQL text only: parameterised text as written, facade text without `$n` with its literals replaced by `?`. */
  sql: string
  count: number
  maxMs: number
  totalMs: number
  errors: number
  lastAt: number
}

export interface HolderView {
  connectionId: number
  state: 'exclusive' | 'shared' | 'validating' | 'resetting'
  heldMs: number
  /** Epoch ms when it entered this state. */
  since: number
  /** Where it was acquired (a few stack frames), when call sites are recorded. */
  site: string | undefined
  leaked: boolean
  /** One-shot statements sharing it, when shared. */
  sharing: number
}

export interface DashboardSample {
  at: number
  pool: { name: string; max: number; min: number; serverVersion: string | undefined; closing: boolean }
  connections: { idle: number; used: number; connecting: number; total: number; max: number }
  waiting: number
  acquireWaitMs: { p50: number; p90: number; p99: number; max: number; count: number; windowMs: number }
  statements: { perSecond: number; errorsPerSecond: number }
  counters: {
    acquired: number
    created: number
    timeouts: number
    leaks: number
    retries: number
    pipelined: number
    connectFailures: number
    destroyed: number
  }
  holders: HolderView[]
  holdersNotShown: number
  slowest: SlowStatement[]
  slowWindowMs: number
  recentTimeouts: { at: number; waitedMs: number }[]
  recentLeaks: { at: number; connectionId: number; heldMs: number; site: string | undefined }[]
}

export interface HistoryPoint {
  at: number
  used: number
  idle: number
  waiting: number
  perSecond: number
}

/** A page's side of the stream: it is sent each frame, and told when the stream ends. */
export interface SampleSubscriber {
  frame(text: string): void
  end(reason: 'closed'): void
}

const samplers = new WeakMap<object, Map<number, PoolSampler>>()

/** Frames of a stack worth showing: drop V8's first line ("Error") and keep the caller's frames. */
function siteText(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined
  const frames = stack
    .split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .map((line) => line.trim().slice(3))
  return frames.length === 0 ? undefined : frames.join('\n')
}

export class PoolSampler {
  readonly #internals: DatabaseInternals
  readonly #intervalMs: number
  readonly #subscribers = new Set<SampleSubscriber>()
  readonly #history: HistoryPoint[] = []
  #timer: NodeJS.Timeout | undefined
  #stop: (() => void) | undefined
  #lastTick = 0
  #statements = 0
  #errors = 0
  #perSecond = 0
  #errorsPerSecond = 0
  #waits: LatencyHistogram[] = []
  #slow: Map<string, SlowStatement>[] = []
  #recentTimeouts: DashboardSample['recentTimeouts'] = []
  #recentLeaks: DashboardSample['recentLeaks'] = []

  /** The sampler of `internals`' pool at this interval, created on first use. */
  static of(internals: DatabaseInternals, intervalMs: number): PoolSampler {
    let byInterval = samplers.get(internals.pool)
    if (byInterval === undefined) {
      byInterval = new Map()
      samplers.set(internals.pool, byInterval)
    }
    let sampler = byInterval.get(intervalMs)
    if (sampler === undefined) {
      sampler = new PoolSampler(internals, intervalMs)
      byInterval.set(intervalMs, sampler)
    }
    return sampler
  }

  private constructor(internals: DatabaseInternals, intervalMs: number) {
    this.#internals = internals
    this.#intervalMs = intervalMs
  }

  get subscribers(): number {
    return this.#subscribers.size
  }

  /** Start receiving frames: the history and a first sample at once, then one sample per interval. Returns the unsubscribe. */
  subscribe(subscriber: SampleSubscriber): () => void {
    if (this.#subscribers.size === 0) this.#start()
    this.#subscribers.add(subscriber)
    subscriber.frame(`event: history\ndata: ${JSON.stringify(this.#history)}\n\n`)
    subscriber.frame(`event: sample\ndata: ${JSON.stringify(this.sample())}\n\n`)
    return () => this.#unsubscribe(subscriber)
  }

  #unsubscribe(subscriber: SampleSubscriber): void {
    if (!this.#subscribers.delete(subscriber)) return
    if (this.#subscribers.size === 0) this.#halt()
  }

  #start(): void {
    const pool = this.#internals.pool
    this.#lastTick = performance.now()
    this.#waits = [new LatencyHistogram()]
    this.#slow = [new Map<string, SlowStatement>()]
    const onQuery = (...[event]: DatabaseEvents['query']): void => {
      this.#statements++
      if (event.error !== undefined) this.#errors++
      this.#noteStatement(shownText(event.sql, event.via), event.durationMs, event.error !== undefined)
    }
    const onAcquire = (...[event]: DatabaseEvents['acquire']): void => (this.#waits[this.#waits.length - 1] as LatencyHistogram).record(event.waitedMs)
    const onTimeout = (...[err]: DatabaseEvents['timeout']): void => {
      this.#recentTimeouts = [{ at: Date.now(), waitedMs: err.waitedMs }, ...this.#recentTimeouts].slice(0, RECENT_EVENTS)
    }
    const onLeak = (...[event]: DatabaseEvents['leak']): void => {
      this.#recentLeaks = [
        { at: Date.now(), connectionId: event.connectionId, heldMs: event.heldMs, site: siteText(event.acquiredAt) },
        ...this.#recentLeaks,
      ].slice(0, RECENT_EVENTS)
    }
    pool.on('query', onQuery)
    pool.on('acquire', onAcquire)
    pool.on('timeout', onTimeout)
    pool.on('leak', onLeak)
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs)
    // A dashboard alone never keeps the process alive.
    this.#timer.unref()
    this.#stop = () => {
      pool.off('query', onQuery)
      pool.off('acquire', onAcquire)
      pool.off('timeout', onTimeout)
      pool.off('leak', onLeak)
    }
  }

  /** Nobody watches: stop listening and forget the windows (the history stays, for the next page). */
  #halt(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#stop?.()
    this.#stop = undefined
    this.#waits = []
    this.#slow = []
    this.#statements = 0
    this.#errors = 0
    this.#perSecond = 0
    this.#errorsPerSecond = 0
  }

  #noteStatement(sql: string, durationMs: number, failed: boolean): void {
    const bucket = this.#slow[this.#slow.length - 1] as Map<string, SlowStatement>
    const seen = bucket.get(sql)
    if (seen !== undefined) {
      seen.count++
      seen.totalMs += durationMs
      seen.maxMs = Math.max(seen.maxMs, durationMs)
      seen.lastAt = Date.now()
      if (failed) seen.errors++
      return
    }
    if (bucket.size >= SLOW_PER_BUCKET) {
      // Full: a new statement takes the place of the fastest one, if it is slower.
      let fastest: SlowStatement | undefined
      for (const entry of bucket.values()) if (fastest === undefined || entry.maxMs < fastest.maxMs) fastest = entry
      if (fastest === undefined || fastest.maxMs >= durationMs) return
      bucket.delete(fastest.sql)
    }
    bucket.set(sql, { sql, count: 1, maxMs: durationMs, totalMs: durationMs, errors: failed ? 1 : 0, lastAt: Date.now() })
  }

  #tick(): void {
    const now = performance.now()
    const seconds = Math.max(0.001, (now - this.#lastTick) / 1000)
    this.#lastTick = now
    this.#perSecond = this.#statements / seconds
    this.#errorsPerSecond = this.#errors / seconds
    this.#statements = 0
    this.#errors = 0
    const sample = this.sample()
    this.#history.push({
      at: sample.at,
      used: sample.connections.used,
      idle: sample.connections.idle,
      waiting: sample.waiting,
      perSecond: sample.statements.perSecond,
    })
    if (this.#history.length > HISTORY_POINTS) this.#history.shift()
    this.#waits.push(new LatencyHistogram())
    if (this.#waits.length > Math.ceil(WAIT_WINDOW_MS / this.#intervalMs)) this.#waits.shift()
    this.#slow.push(new Map<string, SlowStatement>())
    if (this.#slow.length > Math.ceil(SLOW_WINDOW_MS / this.#intervalMs)) this.#slow.shift()
    const closing = this.#internals.pool.closing
    const frame = `event: sample\ndata: ${JSON.stringify(sample)}\n\n`
    for (const subscriber of [...this.#subscribers]) {
      subscriber.frame(frame)
      if (closing) {
        subscriber.end('closed')
        this.#unsubscribe(subscriber)
      }
    }
  }

  /** End every stream (the dashboard or the database is closing). */
  endAll(): void {
    for (const subscriber of [...this.#subscribers]) {
      subscriber.end('closed')
      this.#unsubscribe(subscriber)
    }
  }

  /** The pool as it is now, with the recent windows. */
  sample(): DashboardSample {
    const pool = this.#internals.pool
    const stats = pool.stats()
    const nowPerf = performance.now()
    const nowEpoch = Date.now()
    const waits = new LatencyHistogram()
    for (const h of this.#waits) {
      for (let i = 0; i < h.counts.length; i++) waits.counts[i] = (waits.counts[i] ?? 0) + (h.counts[i] ?? 0)
      waits.count += h.count
      waits.maxMs = Math.max(waits.maxMs, h.maxMs)
    }
    const holders: HolderView[] = []
    const view = (conn: PooledConnection, state: HolderView['state']): void => {
      holders.push({
        connectionId: conn.id,
        state,
        heldMs: nowPerf - conn.since,
        since: nowEpoch - (nowPerf - conn.since),
        site: siteText(conn.acquiredAt?.stack),
        leaked: conn.leaked,
        sharing: state === 'shared' ? conn.sharedCount : 0,
      })
    }
    const states = pool.states
    for (const conn of states.exclusive) view(conn, 'exclusive')
    for (const conn of states.shared) view(conn, 'shared')
    for (const conn of states.validating) view(conn, 'validating')
    for (const conn of states.resetting) view(conn, 'resetting')
    holders.sort((a, b) => b.heldMs - a.heldMs)
    const merged = new Map<string, SlowStatement>()
    for (const bucket of this.#slow) {
      for (const entry of bucket.values()) {
        const seen = merged.get(entry.sql)
        if (seen === undefined) merged.set(entry.sql, { ...entry })
        else {
          seen.count += entry.count
          seen.totalMs += entry.totalMs
          seen.errors += entry.errors
          seen.maxMs = Math.max(seen.maxMs, entry.maxMs)
          seen.lastAt = Math.max(seen.lastAt, entry.lastAt)
        }
      }
    }
    const slowest = [...merged.values()].sort((a, b) => b.maxMs - a.maxMs).slice(0, SLOWEST_SHOWN)
    const destroyed = Object.values(stats.counters.destroyed).reduce((sum, n) => sum + n, 0)
    return {
      at: nowEpoch,
      pool: {
        name: this.#internals.options.applicationName,
        max: stats.max,
        min: this.#internals.options.pool.min,
        serverVersion: pool.serverVersion,
        closing: pool.closing,
      },
      connections: { idle: stats.idle, used: stats.inUse, connecting: stats.connecting, total: stats.total, max: stats.max },
      waiting: stats.waiting,
      acquireWaitMs: {
        p50: waits.percentile(0.5),
        p90: waits.percentile(0.9),
        p99: waits.percentile(0.99),
        max: waits.maxMs,
        count: waits.count,
        windowMs: WAIT_WINDOW_MS,
      },
      statements: { perSecond: this.#perSecond, errorsPerSecond: this.#errorsPerSecond },
      counters: {
        acquired: stats.counters.acquired,
        created: stats.counters.created,
        timeouts: stats.counters.timeouts,
        leaks: stats.counters.leaks,
        retries: stats.counters.retries,
        pipelined: stats.counters.pipelined,
        connectFailures: stats.counters.connectFailures,
        destroyed,
      },
      holders: holders.slice(0, HOLDERS_SHOWN),
      holdersNotShown: Math.max(0, holders.length - HOLDERS_SHOWN),
      slowest,
      slowWindowMs: SLOW_WINDOW_MS,
      recentTimeouts: this.#recentTimeouts,
      recentLeaks: this.#recentLeaks,
    }
  }
}
