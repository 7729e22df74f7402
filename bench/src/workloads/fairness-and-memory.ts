/**
 * The wait queue: fairness and memory, pgsteward's against pg-pool's, on the primary Node. Each
 * run is a `queueingRun` in the peer's worker; the two alternate which goes first. pgsteward's
 * waiters are sessions (`db.session`), the way an application waits for a connection of its own;
 * pg-pool's are `pool.connect()` promises.
 *
 * With every waiter queued at once the distribution of waits is the same whatever the serving
 * order (max ≈ 2 × median), so the count of waiters served before one that queued earlier is
 * reported beside max / median: that is what shows first-come-first-served.
 */
import { bootstrapMedianInterval } from '../bootstrap.ts'
import { interleavedOrder } from '../interleave.ts'
import type { PeerHosts, Runtime } from '../peer-hosts.ts'
import type { PeerId } from '../peers/registry.ts'
import type { FairnessResult, FairnessRow, FairnessRun } from '../results.ts'
import type { BenchSettings } from '../settings.ts'
import { median } from '../stats.ts'

export const WAIT_QUEUE_POOLS: readonly { label: string; peer: PeerId }[] = [
  { label: 'pgsteward', peer: 'pgsteward-app' },
  { label: 'pg-pool', peer: 'pg-pool' },
]

export interface FairnessContext {
  settings: BenchSettings
  url: string
  hosts: PeerHosts
  runtime: Runtime
  progress: (line: string) => void
  throwIfInterrupted: () => void
}

export async function measureFairness(context: FairnessContext): Promise<FairnessResult> {
  const { settings } = context
  const runs = new Map<string, FairnessRun[]>(WAIT_QUEUE_POOLS.map((pool) => [pool.label, []]))
  for (let repetition = 0; repetition < settings.fairnessRepetitions; repetition++) {
    for (const { label, peer } of interleavedOrder(WAIT_QUEUE_POOLS, repetition)) {
      context.throwIfInterrupted()
      const job = {
        kind: 'queueing',
        peer,
        url: context.url,
        poolMax: settings.poolMax,
        waiters: settings.queuedWaiters,
        drainTimeoutMs: settings.drainTimeoutMs,
      } as const
      const run = await context.hosts.run(context.runtime, job, settings.drainTimeoutMs + 60_000).then(
        (outcome) => (outcome.kind === 'queueing' ? outcome.run : failedRun(new Error('unexpected reply'))),
        (err: unknown) => failedRun(err),
      )
      runs.get(label)?.push(run)
      const figures =
        run.errors > 0
          ? `failed: ${run.firstError ?? 'unknown'}`
          : `${run.bytesPerWaiter?.toFixed(0) ?? 'n/a'} B/waiter, max/median wait ${run.maxOverMedian.toFixed(2)}, ${run.servedOutOfOrder} out of order`
      context.progress(`[wait-queue ${repetition + 1}/${settings.fairnessRepetitions}] ${context.runtime.id} ${label}: ${figures}`)
    }
  }
  return {
    id: 'wait-queue',
    title: 'Wait queue: fairness and memory',
    description: `Pool of ${settings.poolMax}, every connection held, ${settings.queuedWaiters.toLocaleString('en-US')} waiters queued at once (pgsteward: \`db.session\`; pg-pool: \`pool.connect()\`), then served, each running SELECT 1 and giving its connection back. Bytes per waiter from the heap after full collections, before and after queuing (the callers' own callbacks made before). Waits counted from the release of the held connections.`,
    runtime: context.runtime.id,
    rows: WAIT_QUEUE_POOLS.map(({ label, peer }) => summarise(label, peer, settings.queuedWaiters, runs.get(label) ?? [])),
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

function summarise(label: string, peer: PeerId, waiters: number, runs: FairnessRun[]): FairnessRow {
  const ok = runs.filter((run) => run.errors === 0)
  const bytes = ok.map((run) => run.bytesPerWaiter).filter((b): b is number => b !== null)
  return {
    label,
    peer,
    waiters,
    runs,
    bytesPerWaiter: bytes.length === 0 ? null : bootstrapMedianInterval(bytes),
    maxOverMedian: ok.length === 0 ? null : bootstrapMedianInterval(ok.map((run) => run.maxOverMedian)),
    waitMedianMs: median(ok.map((run) => run.waitMedianMs)),
    waitP99Ms: median(ok.map((run) => run.waitP99Ms)),
    waitMaxMs: median(ok.map((run) => run.waitMaxMs)),
    servedOutOfOrder: Math.max(0, ...ok.map((run) => run.servedOutOfOrder)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  }
}
