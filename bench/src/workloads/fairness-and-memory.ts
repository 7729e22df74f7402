/**
 * Workload 6: fairness and memory of the wait queue, pgsteward's against pg-pool's. Each run is
 * a `queueingRun` in the peer's worker; the pools alternate which goes first.
 *
 * With every acquirer queued at once the distribution of waits is the same whatever the serving
 * order (max ≈ 2 × median), so the count of acquirers served before one that queued earlier is
 * reported beside max / median: that is what shows first-come-first-served.
 */
import type { PeerThreads } from '../peer-threads.ts'
import type { PeerId } from '../peers/registry.ts'
import type { FairnessResult, FairnessRow, FairnessRun } from '../results.ts'
import type { BenchSettings } from '../settings.ts'
import { median, medianOrNull } from '../stats.ts'
import { PGSTEWARD } from './workload.ts'

const POOLS: readonly { label: string; peer: PeerId }[] = [
  { label: PGSTEWARD, peer: 'pgsteward' },
  { label: 'pg-pool', peer: 'pg-pool' },
]

export interface FairnessContext {
  settings: BenchSettings
  url: string
  threads: PeerThreads
  progress: (line: string) => void
  throwIfInterrupted: () => void
}

export async function measureFairness(context: FairnessContext): Promise<FairnessResult> {
  const { settings } = context
  const runs = new Map<string, FairnessRun[]>(POOLS.map((pool) => [pool.label, []]))
  for (let repetition = 0; repetition < settings.repetitions; repetition++) {
    const order = repetition % 2 === 0 ? POOLS : [...POOLS].reverse()
    for (const { label, peer } of order) {
      context.throwIfInterrupted()
      const job = { kind: 'queueing', peer, url: context.url, poolMax: settings.poolMax, waiters: settings.queuedAcquirers, drainTimeoutMs: settings.drainTimeoutMs } as const
      const run = await context.threads.run(job, settings.drainTimeoutMs + 60_000).then(
        (outcome) => (outcome.kind === 'queueing' ? outcome.run : failedRun(new Error('unexpected reply'))),
        (err: unknown) => failedRun(err),
      )
      runs.get(label)?.push(run)
      const figures = run.errors > 0 ? `failed: ${run.firstError ?? 'unknown'}` : `${run.bytesPerWaiter?.toFixed(0) ?? 'n/a'} B/waiter, max/median wait ${run.maxOverMedian.toFixed(2)}`
      context.progress(`[fairness-and-memory ${repetition + 1}/${settings.repetitions}] ${label}: ${figures}`)
    }
  }
  return {
    id: 'fairness-and-memory',
    title: '6. Fairness and memory of the wait queue',
    description: `Pool of ${settings.poolMax}, all connections held, ${settings.queuedAcquirers.toLocaleString('en-US')} acquirers queued at once, then served (each runs SELECT 1 and releases). Bytes per waiter from the heap after full GCs, before and after queuing. Waits counted from the release of the held connections.`,
    rows: POOLS.map(({ label }) => summarise(label, settings.queuedAcquirers, runs.get(label) ?? [])),
  }
}

function failedRun(err: unknown): FairnessRun {
  return {
    bytesPerWaiter: null,
    waitMedianMs: NaN,
    waitP99Ms: NaN,
    waitMaxMs: NaN,
    maxOverMedian: NaN,
    servedOutOfOrder: 0,
    served: 0,
    errors: 1,
    firstError: err instanceof Error ? err.message : String(err),
  }
}

function summarise(label: string, waiters: number, runs: FairnessRun[]): FairnessRow {
  const ok = runs.filter((run) => run.errors === 0)
  return {
    label,
    waiters,
    runs,
    bytesPerWaiterMedian: medianOrNull(ok.map((run) => run.bytesPerWaiter)),
    waitMedianMs: median(ok.map((run) => run.waitMedianMs)),
    waitP99Ms: median(ok.map((run) => run.waitP99Ms)),
    waitMaxMs: median(ok.map((run) => run.waitMaxMs)),
    maxOverMedian: median(ok.map((run) => run.maxOverMedian)),
    servedOutOfOrder: Math.max(0, ...ok.map((run) => run.servedOutOfOrder)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  }
}
