/**
 * A target's verdict from a median and its confidence interval, never from the median alone:
 * PASS only when the whole interval is on the right side of the goal, MISS only when the whole
 * interval is on the wrong side, TIE when the interval straddles the goal (this run cannot tell).
 *
 * Below six repetitions there is no verdict to give: even the widest interval, from the smallest
 * to the largest value, holds the true median with only 1 - 2 / 2^n confidence (94% at five, 75%
 * at three), whatever the distribution. So fewer than six values is always a TIE.
 */
import type { MedianInterval } from './bootstrap.ts'

export type Verdict = 'PASS' | 'TIE' | 'MISS'

export const MIN_REPETITIONS_FOR_VERDICT = 6

type Judged = Pick<MedianInterval, 'low' | 'high' | 'n'>

/** For a figure that must reach at least `goal` (a throughput ratio). */
export function judgeAtLeast(interval: Judged, goal: number): Verdict {
  if (interval.n < MIN_REPETITIONS_FOR_VERDICT) return 'TIE'
  if (interval.low >= goal) return 'PASS'
  if (interval.high < goal) return 'MISS'
  return 'TIE'
}

/** For a figure that must stay at or below `goal` (max / median wait). */
export function judgeAtMost(interval: Judged, goal: number): Verdict {
  if (interval.n < MIN_REPETITIONS_FOR_VERDICT) return 'TIE'
  if (interval.high <= goal) return 'PASS'
  if (interval.low > goal) return 'MISS'
  return 'TIE'
}

/** For a figure that must stay strictly below `goal` (bytes per waiter under 1 KB). */
export function judgeBelow(interval: Judged, goal: number): Verdict {
  if (interval.n < MIN_REPETITIONS_FOR_VERDICT) return 'TIE'
  if (interval.high < goal) return 'PASS'
  if (interval.low >= goal) return 'MISS'
  return 'TIE'
}
