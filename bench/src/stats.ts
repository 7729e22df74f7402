/**
 * Summary statistics: a latency histogram whose memory does not grow with the number of
 * operations (millions per run for acquire + release), and the median / range of repetitions.
 */

/** Each bucket is 1% wider than the previous: percentiles are within about 1% of the truth. */
const GROWTH = 1.01
const LOG_GROWTH = Math.log(GROWTH)
/** From 1 µs up to about 60 s; anything longer lands in the last bucket. */
const BUCKETS = Math.ceil(Math.log(60e6) / LOG_GROWTH) + 1

/** A histogram as plain data, to cross from a worker thread to the main one. */
export interface HistogramSnapshot {
  counts: Float64Array
  count: number
  maxMs: number
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS)
  #count = 0
  #maxMs = 0

  static fromSnapshot(snapshot: HistogramSnapshot): LatencyHistogram {
    const histogram = new LatencyHistogram()
    histogram.#counts.set(snapshot.counts.subarray(0, BUCKETS))
    histogram.#count = snapshot.count
    histogram.#maxMs = snapshot.maxMs
    return histogram
  }

  snapshot(): HistogramSnapshot {
    return { counts: this.#counts.slice(), count: this.#count, maxMs: this.#maxMs }
  }

  get count(): number {
    return this.#count
  }

  get maxMs(): number {
    return this.#maxMs
  }

  record(ms: number): void {
    const micros = ms * 1_000
    const index = micros <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(micros) / LOG_GROWTH))
    this.#counts[index] = (this.#counts[index] ?? 0) + 1
    this.#count++
    if (ms > this.#maxMs) this.#maxMs = ms
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i] = (this.#counts[i] ?? 0) + (other.#counts[i] ?? 0)
    this.#count += other.#count
    this.#maxMs = Math.max(this.#maxMs, other.#maxMs)
  }

  /** The latency below which a fraction `q` of the operations fell, in ms; NaN when empty. */
  percentile(q: number): number {
    if (this.#count === 0) return NaN
    const rank = Math.max(1, Math.ceil(q * this.#count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i] ?? 0
      // The bucket's geometric middle, never above the largest value seen.
      if (seen >= rank) return Math.min(this.#maxMs, GROWTH ** (i + 0.5) / 1_000)
    }
    return this.#maxMs
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Exact percentile of a small array (fairness waits: ten thousand values). */
export function percentileOf(values: Float64Array, q: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

export function medianOrNull(values: readonly (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v))
  return present.length === 0 ? null : median(present)
}
