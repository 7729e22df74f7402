/**
 * How long and how often each measurement runs, for the full run and for `--quick`. Durations
 * are chosen so that the quick run stays under two minutes and the full one under fifteen on a
 * two-core machine, with every pooled peer and pgbench mode run in each repetition.
 */
export type BenchMode = 'full' | 'quick'

export interface BenchSettings {
  mode: BenchMode
  /** Load before the measured window: connections opened, JIT warm, caches hot. */
  warmupMs: number
  /** The measured window of each run. */
  durationMs: number
  /** pgbench takes whole seconds (`-T`); its connection set-up is excluded from its tps. */
  pgbenchSeconds: number
  /** Every peer runs once per repetition, in an order rotated each time. */
  repetitions: number
  /** `max` of every pool, pgsteward's and the peers'. */
  poolMax: number
  /** Concurrent async workers of the usual workloads (and pgbench's `-c`). */
  workers: number
  /** Workers of the oversubscribed SELECT 1 variant. */
  manyWorkers: number
  /** Acquirers queued at once on an exhausted pool in the fairness and memory workload. */
  queuedAcquirers: number
  /** Longest the operations still in flight at the end of a run may take before the run fails. */
  drainTimeoutMs: number
  /** The end-to-end workload: autocannon against the classroom service, in whole seconds (its -d). */
  endToEnd: EndToEndSettings
}

export interface EndToEndSettings {
  /** One unmeasured autocannon run first: JIT, connections, the service's pool all warm. */
  warmupSeconds: number
  seconds: number
  repetitions: number
  /** autocannon's -c: concurrent HTTP connections, as many as the other workloads' workers. */
  connections: number
}

const COMMON = {
  poolMax: 10,
  workers: 64,
  manyWorkers: 1_000,
  queuedAcquirers: 10_000,
  drainTimeoutMs: 30_000,
} as const

// 31 timed runs per repetition. Client and server share two cores, so single runs vary by
// ±25%: five repetitions of 4 s give steadier medians than three of 5 s, in about 12 minutes.
// The end-to-end workload adds about 40 s: 10 s windows, as an HTTP load test needs to settle.
const FULL: BenchSettings = {
  ...COMMON,
  mode: 'full',
  repetitions: 5,
  warmupMs: 750,
  durationMs: 4_000,
  pgbenchSeconds: 4,
  endToEnd: { warmupSeconds: 3, seconds: 10, repetitions: 3, connections: 64 },
}

// Three repetitions of 0.5 s windows: about 95 s in all. pgbench gets 2 s: its -T also covers
// opening its 64 connections, which on a loaded machine can take the whole of a 1 s run.
// The end-to-end workload adds about 10 s (autocannon takes whole seconds).
const QUICK: BenchSettings = {
  ...COMMON,
  mode: 'quick',
  repetitions: 3,
  warmupMs: 200,
  durationMs: 500,
  pgbenchSeconds: 2,
  endToEnd: { warmupSeconds: 1, seconds: 2, repetitions: 3, connections: 64 },
}

const USAGE = 'usage: npm run bench [-- --quick]'

/** Settings for the command-line arguments; throws on anything it does not know. */
export function settingsFromArgs(args: readonly string[]): BenchSettings {
  const unknown = args.filter((arg) => arg !== '--quick')
  if (unknown.length > 0) throw new Error(`Unknown argument ${unknown.join(' ')}. ${USAGE}`)
  return args.includes('--quick') ? QUICK : FULL
}
