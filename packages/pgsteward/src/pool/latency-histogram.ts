/**
 * Fixed-bucket latency histogram: recording is two arithmetic operations and an increment, so it
 * can sit on the acquire path; percentiles are read from the bucket counts in O(buckets).
 */

/** Bucket upper bounds in milliseconds: 0.01 ms to about 84 s, each 1.5x the last. */
export const BUCKET_BOUNDS_MS: readonly number[] = Array.from({ length: 40 }, (_, i) => 0.01 * 1.5 ** i)
const LOG_STEP = Math.log(1.5)

export class LatencyHistogram {
  readonly counts = new Array<number>(BUCKET_BOUNDS_MS.length + 1).fill(0)
  count = 0
  sumMs = 0
  maxMs = 0

  record(ms: number): void {
    const index = ms <= 0.01 ? 0 : Math.min(BUCKET_BOUNDS_MS.length, Math.ceil(Math.log(ms / 0.01) / LOG_STEP))
    this.counts[index] = (this.counts[index] ?? 0) + 1
    this.count++
    this.sumMs += ms
    if (ms > this.maxMs) this.maxMs = ms
  }

  /** The bucket bound under which `q` (0..1) of the samples fall; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.ceil(q * this.count)
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0
      if (seen >= rank) return Math.min(BUCKET_BOUNDS_MS[i] ?? this.maxMs, this.maxMs)
    }
    return this.maxMs
  }
}
