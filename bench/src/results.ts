/**
 * The shape of a benchmark run's results: what is printed, what is written to
 * `bench/results/*.json`, and what the markdown summary and the targets are computed from.
 */
import type { AutocannonFigures } from './autocannon.ts'
import type { MachineDescription } from './machine.ts'
import type { BenchSettings } from './settings.ts'

/** One timed run of one peer. */
export interface RunSample {
  opsPerSec: number
  /** Operations completed inside the measured window. */
  ops: number
  /** Length of the measured window. */
  seconds: number
  p50Ms: number
  p99Ms: number
  /** Client CPU (user + system) over the window, as % of one core; null where it cannot be read. */
  cpuPercent: number | null
  /** Client CPU per operation: steadier than ops/s when the server, not the client, is the limit. */
  cpuMicrosPerOp: number | null
  /** pgbench only: its own mean (its per-transaction log cannot give percentiles, see pgbench.ts). */
  meanLatencyMs?: number
  errors: number
  firstError?: string
}

export type PeerKind = 'pooled' | 'pgbench' | 'n/a'

/** One line of a workload's table: a peer's runs and their summary. */
export interface PeerRow {
  label: string
  kind: PeerKind
  note?: string
  runs: RunSample[]
  opsPerSecMedian: number | null
  opsPerSecMin: number | null
  opsPerSecMax: number | null
  /** From the latencies of every run merged. */
  p50Ms: number | null
  p99Ms: number | null
  cpuPercentMedian: number | null
  cpuMicrosPerOpMedian: number | null
  /** pgbench rows: median of pgbench's mean latency. */
  meanLatencyMs: number | null
  errors: number
  /** pgsteward's median ops/s over this peer's. */
  pgstewardOverPeer: number | null
  /** This peer's median ops/s over the best pgbench mode's. */
  peerOverBestPgbench: number | null
}

export interface ThroughputWorkloadResult {
  id: string
  title: string
  description: string
  workers: number
  poolMax: number
  rows: PeerRow[]
  /** The pgbench figure the last column divides by, and where it comes from. */
  pgbenchReference: { label: string; opsPerSec: number; workloadId: string } | null
}

/** One queueing run: an exhausted pool, many acquirers queued at once, then served. */
export interface FairnessRun {
  bytesPerWaiter: number | null
  waitMedianMs: number
  waitP99Ms: number
  waitMaxMs: number
  maxOverMedian: number
  /** Acquirers granted a connection before one that queued earlier. */
  servedOutOfOrder: number
  served: number
  errors: number
  firstError?: string
}

export interface FairnessRow {
  label: string
  waiters: number
  runs: FairnessRun[]
  bytesPerWaiterMedian: number | null
  waitMedianMs: number
  waitP99Ms: number
  waitMaxMs: number
  maxOverMedian: number
  servedOutOfOrder: number
  errors: number
}

export interface FairnessResult {
  id: string
  title: string
  description: string
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

/** Workload 5: the classroom service's GET /projects/:id under autocannon from another process. */
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

export interface OwnershipOverhead {
  scopedOpsPerSec: number
  poolOnlyOpsPerSec: number
  /** How much slower `db.query` is than the bare pool path, from the medians. */
  overheadPercent: number
  /** The same, from each repetition's pair of runs, and their median. */
  perRepetitionPercent: number[]
  pairedMedianPercent: number
  /** Client CPU per operation (medians) and how much more db.query spends, in %. */
  scopedCpuMicrosPerOp: number | null
  poolOnlyCpuMicrosPerOp: number | null
  cpuOverheadPercent: number | null
}

export interface TargetCheck {
  name: string
  target: string
  measured: string
  pass: boolean | null
}

export interface BenchResult {
  mode: BenchSettings['mode']
  settings: BenchSettings
  machine: MachineDescription
  startedAt: string
  finishedAt: string
  wallSeconds: number
  /** 1-minute load average when the run started and ended: other work on the machine skews every figure. */
  loadAverage: { start: number; end: number }
  throughput: ThroughputWorkloadResult[]
  ownership: OwnershipOverhead | null
  fairness: FairnessResult
  endToEnd: EndToEndResult
  targets: TargetCheck[]
  notes: string[]
}
