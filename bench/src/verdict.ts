/**
 * A target's verdict from a median and its confidence interval, never from the median alone:
 * PASS only when the whole interval is on the right side of the goal, MISS only when the whole
 * interval is on the wrong side, TIE when the interval straddles the goal (this run cannot tell).
 */
import type { MedianInterval } from './bootstrap.ts'

export type Verdict = 'PASS' | 'TIE' | 'MISS'

/** For a figure that must reach at least `goal` (a throughput ratio). */
export function judgeAtLeast(interval: Pick<MedianInterval, 'low' | 'high'>, goal: number): Verdict {
  if (interval.low >= goal) return 'PASS'
  if (interval.high < goal) return 'MISS'
  return 'TIE'
}

/** For a figure that must stay at or below `goal` (bytes per waiter, max/median wait). */
export function judgeAtMost(interval: Pick<MedianInterval, 'low' | 'high'>, goal: number): Verdict {
  if (interval.high <= goal) return 'PASS'
  if (interval.low > goal) return 'MISS'
  return 'TIE'
}

/** For a figure that must stay strictly below `goal` (bytes per waiter under 1 KB). */
export function judgeBelow(interval: Pick<MedianInterval, 'low' | 'high'>, goal: number): Verdict {
  if (interval.high < goal) return 'PASS'
  if (interval.low >= goal) return 'MISS'
  return 'TIE'
}
