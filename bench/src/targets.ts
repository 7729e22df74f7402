/**
 * The goals pgsteward is held to, each computed from this run's own figures (never typed in):
 * PASS, MISS, or null when the figure is missing (a peer failed or was not run).
 */
import type { FairnessResult, OwnershipOverhead, TargetCheck, ThroughputWorkloadResult } from './results.ts'
import { PGSTEWARD } from './workloads/workload.ts'

/** Workloads whose pgsteward figure must beat Slonik's by 2x. */
const SLONIK_WORKLOADS = new Set(['select-one', 'select-one-many-workers', 'read-write-transaction'])
const ACQUIRE_RELEASE = 'acquire-release'
const MAX_BYTES_PER_WAITER = 2_048

const times = (ratio: number): string => `${ratio.toFixed(2)}x`

function ratioCheck(result: ThroughputWorkloadResult, peer: string, minimum: number): TargetCheck {
  const ratio = result.rows.find((row) => row.label === peer)?.pgstewardOverPeer ?? null
  return {
    name: `${result.title}: pgsteward / ${peer}`,
    target: `>= ${times(minimum)}`,
    measured: ratio === null ? 'n/a' : times(ratio),
    pass: ratio === null ? null : ratio >= minimum,
  }
}

export function evaluateTargets(throughput: readonly ThroughputWorkloadResult[], ownership: OwnershipOverhead | null, fairness: FairnessResult): TargetCheck[] {
  const checks: TargetCheck[] = []
  for (const result of throughput) {
    if (result.rows.some((row) => row.label === 'pg-pool')) checks.push(ratioCheck(result, 'pg-pool', 1.0))
    if (result.id === ACQUIRE_RELEASE) checks.push(ratioCheck(result, 'pg-pool', 1.5))
    if (SLONIK_WORKLOADS.has(result.id)) checks.push(ratioCheck(result, 'Slonik', 2.0))
  }
  checks.push({
    name: '2c. Ownership overhead: db.query vs db.pool path',
    target: '< 5%',
    measured: ownership === null ? 'n/a' : `${ownership.overheadPercent.toFixed(1)}%`,
    pass: ownership === null ? null : ownership.overheadPercent < 5,
  })
  const steward = fairness.rows.find((row) => row.label === PGSTEWARD)
  const ratio = steward?.maxOverMedian
  checks.push({
    name: '6. Fairness: pgsteward max wait / median wait',
    target: '<= 3',
    measured: ratio === undefined || Number.isNaN(ratio) ? 'n/a' : ratio.toFixed(2),
    pass: ratio === undefined || Number.isNaN(ratio) ? null : ratio <= 3,
  })
  const bytes = steward?.bytesPerWaiterMedian ?? null
  checks.push({
    name: '6. Memory: pgsteward bytes per queued waiter',
    target: `< ${MAX_BYTES_PER_WAITER} B`,
    measured: bytes === null ? 'n/a (run without --expose-gc)' : `${Math.round(bytes)} B`,
    pass: bytes === null ? null : bytes < MAX_BYTES_PER_WAITER,
  })
  return checks
}
