/**
 * The uncertainty of a median from a handful of repetitions: a percentile bootstrap. The values
 * are resampled with replacement many times, the median of each resample taken, and the middle
 * 95% of those medians is the interval. No assumption about the shape of the distribution, which
 * on a shared machine is anything but normal (a run that meets a busy neighbour is an outlier).
 *
 * The resampling is driven by a fixed-seed generator, so the same figures always give the same
 * interval: a verdict does not change when a report is rendered again.
 */
import { median } from './stats.ts'

export interface MedianInterval {
  median: number
  /** Bounds of the confidence interval of the median. */
  low: number
  high: number
  /** How many values it rests on. */
  n: number
}

export interface BootstrapOptions {
  /** (Default: 10,000) */
  resamples?: number
  /** (Default: 0.95) */
  confidence?: number
  /** (Default: a fixed seed) */
  seed?: number
}

/** mulberry32: a small, fast, well-mixed 32-bit generator; ample for resampling indices. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The q-quantile of sorted values, interpolating between neighbours (Hyndman and Fan's type 7). */
export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const above = Math.ceil(position)
  const low = sorted[below] as number
  const high = sorted[above] as number
  return low + (high - low) * (position - below)
}

export function bootstrapMedianInterval(values: readonly number[], options: BootstrapOptions = {}): MedianInterval {
  const { resamples = 10_000, confidence = 0.95, seed = 0x9e3779b9 } = options
  const n = values.length
  if (n === 0) return { median: NaN, low: NaN, high: NaN, n: 0 }
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must lie between 0 and 1, got ${confidence}`)
  const random = seededRandom(seed)
  const medians = new Float64Array(resamples)
  const sample = new Float64Array(n)
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) sample[i] = values[Math.floor(random() * n)] as number
    sample.sort()
    medians[r] = n % 2 === 1 ? (sample[(n - 1) / 2] as number) : ((sample[n / 2 - 1] as number) + (sample[n / 2] as number)) / 2
  }
  medians.sort()
  const tail = (1 - confidence) / 2
  return { median: median(values), low: quantileOfSorted(medians, tail), high: quantileOfSorted(medians, 1 - tail), n }
}
