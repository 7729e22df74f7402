/**
 * The shape of a benchmark run's results: what is printed, what is written to
 * bench/results/<run>/results.json, and what the tables, charts and targets are computed from.
 */
import type { ProfiledRun } from './explain.ts'
import type { AutocannonFigures } from './autocannon.ts'
import type { MedianInterval } from './bootstrap.ts'
import type { MachineDescription } from './machine.ts'
import type { PeerId } from './peers/registry.ts'
import type { BenchSettings } from './settings.ts'
import type { Verdict } from './verdict.ts'

/** One timed run of one row. */
export interface RunSample {
  opsPerSec: number
  /** Operations completed inside the measured window. */
  ops: number
  /** Length of the measured window. */
  seconds: number
  p50Ms: number
  p99Ms: number
  /** The peer worker thread's CPU over the window, as % of one core (pgbench: its whole process). */
  cpuPercent: number | null
  /** The peer worker thread's CPU per operation, in µs (pgbench: its whole process, all threads). */
  cpuMicrosPerOp: number | null
  /** The whole host process's CPU per operation, V8's helper threads included; null for pgbench. */
  processCpuMicrosPerOp: number | null
  /** pgbench only: its own mean (its per-transaction log cannot give percentiles, see pgbench.ts). */
  meanLatencyMs?: number
  errors: number
  firstError?: string
}

/** subject: a pgsteward row; peer: a pooled library it is compared with; pgbench: the server's limit. */
export type RowKind = 'subject' | 'peer' | 'pgbench' | 'n/a'

/** One line of a workload's table: a peer on one Node version (or pgbench), its runs and their summary. */
export interface RowResult {
  /** `node20/pg-pool`, `pgbench/-M prepared -c 64`: unique within the workload. */
  key: string
  label: string
  kind: RowKind
  peer: PeerId | null
  /** The Node version's id (`node20`), null for pgbench. */
  runtime: string | null
  note?: string
  /** By repetition; null where the row was not run in that repetition (an interrupted run). */
  runs: (RunSample | null)[]
  /** Over the runs that completed operations, with the bootstrap interval of the median. */
  opsPerSec: MedianInterval | null
  opsPerSecMin: number | null
  opsPerSecMax: number | null
  /** From the latencies of every run merged. */
  p50Ms: number | null
  p99Ms: number | null
  cpuPercentMedian: number | null
  cpuMicrosPerOpMedian: number | null
  processCpuMicrosPerOpMedian: number | null
  /** pgbench rows: median of pgbench's mean latency. */
  meanLatencyMs: number | null
  errors: number
  /** This row's median over the best pgbench row's (of this workload or its reference). */
  overPgbenchBest: number | null
}

/** A pgsteward row against the best pooled peer on the same Node, repetition by repetition. */
export interface Comparison {
  subjectKey: string
  runtime: string
  /** Per repetition: pgsteward's ops/s over the best peer's in that repetition. */
  ratios: (number | null)[]
  /** Per repetition: which peer that was. */
  bestPeer: (string | null)[]
  interval: MedianInterval
  /** How often each peer was the best. */
  bestPeerCounts: Record<string, number>
}

export interface WorkloadResult {
  id: string
  /** Workloads of one group share a chart (the SELECT 1 concurrency sweep). */
  group: string
  title: string
  description: string
  workers: number
  poolMax: number
  rows: RowResult[]
  comparisons: Comparison[]
  /** The pgbench figure the last column divides by, and where it comes from. */
  pgbenchReference: { label: string; opsPerSec: number; workloadId: string } | null
}

/** One queueing run: an exhausted pool, many waiters queued at once, then served. */
export interface FairnessRun {
  bytesPerWaiter: number | null
  waitMedianMs: number
  waitP99Ms: number
  waitMaxMs: number
  maxOverMedian: number
  /** Waiters granted a connection before one that queued earlier. */
  servedOutOfOrder: number
  served: number
  errors: number
  firstError?: string
}

export interface FairnessRow {
  label: string
  peer: PeerId
  waiters: number
  runs: FairnessRun[]
  bytesPerWaiter: MedianInterval | null
  maxOverMedian: MedianInterval | null
  waitMedianMs: number
  waitP99Ms: number
  waitMaxMs: number
  /** The most in any repetition. */
  servedOutOfOrder: number
  errors: number
}

export interface FairnessResult {
  id: string
  title: string
  description: string
  runtime: string
  rows: FairnessRow[]
}

/** One autocannon run against the classroom service, with the service's pool sampled alongside. */
export interface EndToEndRun extends AutocannonFigures {
  /** From db.stats() sampled during the run. */
  peakInUse: number
  peakWaiting: number
  /** Pool acquisitions during the run per request answered. */
  acquiresPerRequest: number | null
  poolTimeouts: number
  firstError?: string
}

/** The classroom service's GET /projects/:id under autocannon from another process. */
export interface EndToEndResult {
  id: string
  title: string
  description: string
  connections: number
  poolMax: number
  autocannonVersion: string
  runs: EndToEndRun[]
  requestsPerSecMedian: number | null
  requestsPerSecMin: number | null
  requestsPerSecMax: number | null
  /** Medians of the runs' percentiles: autocannon's histograms stay in its process. */
  p50Ms: number | null
  p99Ms: number | null
  non2xx: number
  errors: number
  peakInUse: number
  peakWaiting: number
  /** db.stats().acquireWaitMs at the end: since the service started (warm-up and every run). */
  acquireWaitP99Ms: number | null
  acquireWaitMaxMs: number | null
  acquireWaits: number
  poolTimeouts: number
  /** Set when the service could not be started or measured at all. */
  failure: string | null
}

export interface TargetResult {
  /** What is judged, e.g. `SELECT 1, 1000 workers: pgsteward / best peer`. */
  name: string
  /** The Node version it is judged on. */
  runtime: string | null
  goal: string
  /** The median, formatted (`1.07x`, `412 B`). */
  measured: string
  /** The bootstrap 95% interval of the median, formatted; empty where no statistics apply. */
  interval: string
  verdict: Verdict | 'n/a'
  /** Which peer it was against, client CPU per operation beside, what failed. */
  detail: string
}

export interface BenchResult {
  mode: BenchSettings['mode']
  /** Whether this run replaced bench/README.md (a full run of every workload) or went to results/trial/. */
  published: boolean
  settings: BenchSettings
  machine: MachineDescription
  startedAt: string
  finishedAt: string
  wallSeconds: number
  /** 1, 5 and 15-minute load averages when the run started and ended: other work skews every figure. */
  loadAverage: { start: number[]; end: number[] }
  throughput: WorkloadResult[]
  fairness: FairnessResult | null
  endToEnd: EndToEndResult | null
  targets: TargetResult[]
  /** CPU profiles behind the hardest targets (explain.ts); absent in runs made before they were taken. */
  profiles?: ProfiledRun[]
  notes: string[]
}
