/**
 * The messages between the main process, which schedules the runs, the host process of each Node
 * version, and the worker threads in it that perform them, one worker per peer.
 */
import type { ClosedLoopOptions } from './closed-loop.ts'
import type { ThreadCpuSource } from './cpu-clock.ts'
import type { OperationName } from './peers/peer.ts'
import type { PeerId } from './peers/registry.ts'
import type { FairnessRun, RunSample } from './results.ts'
import type { ProfileSummary } from './profile-summary.ts'
import type { HistogramSnapshot } from './stats.ts'

/** Open the peer's pool, run `operation` in a closed loop, close the pool. */
export interface ClosedLoopJob {
  kind: 'closed-loop'
  peer: PeerId
  operation: OperationName
  url: string
  poolMax: number
  loop: ClosedLoopOptions
  /** Sample the worker with V8's CPU profiler during the run and return the summary (never a measured run). */
  profile?: boolean
}

/** The wait-queue workload on the peer's pool: hold every connection, queue `waiters`, serve them. */
export interface QueueingJob {
  kind: 'queueing'
  peer: PeerId
  url: string
  poolMax: number
  waiters: number
  drainTimeoutMs: number
}

export type PeerJob = ClosedLoopJob | QueueingJob

export type JobOutcome =
  { kind: 'closed-loop'; sample: RunSample; latencies: HistogramSnapshot; profile?: ProfileSummary } | { kind: 'queueing'; run: FairnessRun }

export interface JobRequest {
  id: number
  job: PeerJob
  /** The host terminates the peer's worker when the job overruns this. */
  timeoutMs: number
}

export type JobReply = { id: number; ok: true; outcome: JobOutcome } | { id: number; ok: false; error: string }

/** The host's first message: which Node it is and how it reads a thread's CPU time. */
export interface HostReady {
  kind: 'ready'
  node: string
  threadCpuSource: ThreadCpuSource
  /** What `pgsteward` resolves to in the host (its built dist/), and the flags it runs with (no loader). */
  pgsteward: string
  execArgv: string[]
}

export type HostMessage = HostReady | ({ kind: 'reply' } & JobReply)
