/**
 * One run of the wait-queue workload, performed in the peer's worker thread: a pool of ten whose
 * connections are all held; `waiters` callers queued at once, the heap read before and after
 * (bytes per waiter: what the pool keeps for each); then the held connections given back and every
 * waiter, when served, runs SELECT 1 and gives its connection back, serving the next.
 *
 * Waits count from the release of the held connections, so the pause for the heap readings
 * (full collections) is not in them.
 */
import { performance } from 'node:perf_hooks'
import type { QueueingJob } from '../peer-jobs.ts'
import type { PooledPeer } from '../peers/peer.ts'
import type { FairnessRun } from '../results.ts'
import { percentileOf } from '../stats.ts'
import { withTimeLimit } from '../time-limit.ts'

export async function queueingRun(
  peer: PooledPeer,
  label: string,
  job: Pick<QueueingJob, 'url' | 'poolMax' | 'waiters' | 'drainTimeoutMs'>,
): Promise<FairnessRun> {
  const { waiters } = job
  const open = await peer.open(job.url, job.poolMax)
  try {
    const queue = open.waitQueue
    if (queue === undefined) throw new Error(`${label} offers no way to wait for a connection`)
    const giveBack = await queue.holdAll()

    // Everything the measurement itself needs is allocated before the first heap reading.
    const pending = new Array<Promise<unknown> | null>(waiters).fill(null)
    const grantedAt = new Float64Array(waiters)
    const grantOrder = new Int32Array(waiters)
    let granted = 0
    queue.prepare(waiters, (index) => {
      grantedAt[index] = performance.now()
      grantOrder[index] = granted++
    })
    const heapBefore = settledHeapUsed()
    for (let i = 0; i < waiters; i++) pending[i] = queue.enqueue(i)
    const heapAfter = settledHeapUsed()

    let errors = 0
    let firstError: string | undefined
    const served = pending.map((queued, i) =>
      queue.served(i, queued ?? Promise.reject(new Error('not queued'))).catch((err: unknown) => {
        errors++
        firstError ??= err instanceof Error ? err.message : String(err)
      }),
    )
    const serviceStart = performance.now()
    await giveBack()
    await withTimeLimit(Promise.all(served), job.drainTimeoutMs, `serving ${waiters} queued waiters`)

    const waits = grantedAt.map((at) => at - serviceStart)
    // A waiter served before one that queued earlier: first-come-first-served broken.
    let servedOutOfOrder = 0
    let latestGrantSoFar = -1
    for (const order of grantOrder) {
      if (order < latestGrantSoFar) servedOutOfOrder++
      latestGrantSoFar = Math.max(latestGrantSoFar, order)
    }
    const waitMedianMs = percentileOf(waits, 0.5)
    const waitMaxMs = percentileOf(waits, 1)
    return {
      bytesPerWaiter: heapBefore === null || heapAfter === null ? null : (heapAfter - heapBefore) / waiters,
      waitMedianMs,
      waitP99Ms: percentileOf(waits, 0.99),
      waitMaxMs,
      maxOverMedian: waitMaxMs / waitMedianMs,
      servedOutOfOrder,
      served: granted,
      errors,
      ...(firstError === undefined ? {} : { firstError }),
    }
  } finally {
    await withTimeLimit(open.close(), 15_000, `closing ${label}`)
  }
}

/** This isolate's heap in use after full collections; null without --expose-gc. */
function settledHeapUsed(): number | null {
  const collect = globalThis.gc
  if (collect === undefined) return null
  collect()
  collect()
  return process.memoryUsage().heapUsed
}
