/**
 * The messages between the main thread, which schedules the runs, and the worker threads that
 * perform them, one worker per peer.
 */
import type { ClosedLoopOptions } from './closed-loop.ts'
import type { OperationName } from './peers/peer.ts'
import type { PeerId } from './peers/registry.ts'
import type { FairnessRun, RunSample } from './results.ts'
import type { HistogramSnapshot } from './stats.ts'

/** Open the peer's pool, run `operation` in a closed loop, close the pool. */
export interface ClosedLoopJob {
  kind: 'closed-loop'
  peer: PeerId
  operation: OperationName
  url: string
  poolMax: number
  loop: ClosedLoopOptions
}

/** Workload 6 on the peer's pool: hold every connection, queue `waiters` acquirers, serve them. */
export interface QueueingJob {
  kind: 'queueing'
  peer: PeerId
  url: string
  poolMax: number
  waiters: number
  drainTimeoutMs: number
}

export type PeerJob = ClosedLoopJob | QueueingJob

export type JobOutcome = { kind: 'closed-loop'; sample: RunSample; latencies: HistogramSnapshot } | { kind: 'queueing'; run: FairnessRun }

export interface JobRequest {
  id: number
  job: PeerJob
}

export type JobReply = { id: number; ok: true; outcome: JobOutcome } | { id: number; ok: false; error: string }
