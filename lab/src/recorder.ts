/**
 * What a variant did, measured the same way for naive and pgsteward: operations, outcomes by
 * error kind, latency, and pool gauges over time.
 */
import { performance } from 'node:perf_hooks'

export interface TimelinePoint {
  tMs: number
  /** Operations completed in this interval. */
  ops: number
  /** Median latency of those operations. */
  p50Ms: number
  inUse?: number
  waiting?: number
}

export interface RecordedSummary {
  operations: number
  ok: number
  errors: Record<string, number>
  p50Ms: number
  p99Ms: number
  maxMs: number
  timeline: TimelinePoint[]
}

/** A short, stable label for an error: SQLSTATE or library code, else the class name. */
export function errorKind(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code
    const name = (err as { name?: unknown }).name
    if (typeof code === 'string' && code.length > 0) return code
    if (typeof name === 'string' && name !== 'Error') return name
    const message = (err as { message?: unknown }).message
    if (typeof message === 'string') return message.slice(0, 48)
  }
  return String(err).slice(0, 48)
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

const INTERVAL_MS = 100

export class Recorder {
  readonly #startedAt = performance.now()
  readonly #latencies: number[] = []
  readonly #errors = new Map<string, number>()
  readonly #timeline: { ops: number[]; inUse?: number; waiting?: number }[] = []
  #ok = 0
  #sampler: NodeJS.Timeout | undefined

  /** Run one operation, recording its latency and outcome; never throws. */
  async op<T>(work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    const started = performance.now()
    try {
      const value = await work()
      this.#finish(started)
      this.#ok++
      return { ok: true, value }
    } catch (error) {
      this.#finish(started)
      const kind = errorKind(error)
      this.#errors.set(kind, (this.#errors.get(kind) ?? 0) + 1)
      return { ok: false, error }
    }
  }

  #finish(started: number): void {
    const now = performance.now()
    const ms = now - started
    this.#latencies.push(ms)
    this.#bucket(now).ops.push(ms)
  }

  #bucket(now: number): { ops: number[]; inUse?: number; waiting?: number } {
    const index = Math.floor((now - this.#startedAt) / INTERVAL_MS)
    while (this.#timeline.length <= index) this.#timeline.push({ ops: [] })
    return this.#timeline[index] as { ops: number[] }
  }

  /** Sample pool gauges every interval while the variant runs. */
  watch(gauges: () => { inUse: number; waiting: number }): void {
    this.#sampler = setInterval(() => {
      const bucket = this.#bucket(performance.now())
      Object.assign(bucket, gauges())
    }, INTERVAL_MS)
    this.#sampler.unref()
  }

  summary(): RecordedSummary {
    clearInterval(this.#sampler)
    const sorted = [...this.#latencies].sort((a, b) => a - b)
    return {
      operations: this.#latencies.length,
      ok: this.#ok,
      errors: Object.fromEntries(this.#errors),
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99)),
      maxMs: round(sorted[sorted.length - 1] ?? 0),
      timeline: this.#timeline.map((b, i) => {
        const s = [...b.ops].sort((x, y) => x - y)
        return { tMs: i * INTERVAL_MS, ops: b.ops.length, p50Ms: round(percentile(s, 0.5)), inUse: b.inUse, waiting: b.waiting }
      }),
    }
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100
