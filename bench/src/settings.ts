/**
 * How long and how often each measurement runs, and what runs, from the command line:
 *
 *   npm run bench [-- --quick] [--repetitions N] [--node 20,24] [--only a,b] [--cpu-prof]
 *
 * A full run of every workload is the published one (bench/README.md and a dated directory in
 * bench/results); `--quick`, `--only` and `--cpu-prof` runs go to bench/results/trial/ and never
 * replace it.
 */
export type BenchMode = 'full' | 'quick'

export interface BenchSettings {
  mode: BenchMode
  /** Load before the measured window: connections opened, JIT warm, caches hot. */
  warmupMs: number
  /** The measured window of each run. */
  durationMs: number
  /** pgbench's measuring time in whole seconds; its -T adds time to connect (measure.ts pgbenchSeconds). */
  pgbenchSeconds: number
  /** Every row runs once per repetition, the rows interleaved (interleave.ts). */
  repetitions: number
  /** `max` of every pool, pgsteward's and the peers'. */
  poolMax: number
  /** Concurrent async workers of the fixed-concurrency workloads (and pgbench's `-c`). */
  workers: number
  /** Concurrent workers of the SELECT 1 sweep. */
  sweep: number[]
  /** pgbench's clients are server connections: the sweep's points above this get no pgbench row. */
  pgbenchMaxClients: number
  /** Waiters queued at once on an exhausted pool in the wait-queue workload. */
  queuedWaiters: number
  fairnessRepetitions: number
  /** Longest the operations still in flight at the end of a run may take before the run fails. */
  drainTimeoutMs: number
  /** Node majors the peers run on; the first is the primary, on which the targets are judged. */
  nodeMajors: number[]
  /** Workload ids or groups to run (`--only`); null for all. */
  only: string[] | null
  /** Write a V8 CPU profile of every peer's worker thread (`--cpu-prof`): to show where the time goes. */
  cpuProf: boolean
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

/** What `--only` accepts: a workload group, or one SELECT 1 point as `select-one-<workers>`. */
export const WORKLOAD_GROUPS = [
  'acquire-release',
  'select-one',
  'read-write-transaction',
  'read-by-primary-key',
  'ten-reads',
  'wait-queue',
  'end-to-end',
] as const

const COMMON = {
  poolMax: 10,
  workers: 64,
  sweep: [1, 10, 64, 256, 1_000, 4_000],
  // pgbench opens one server process per client inside its -T; on a loaded two-core machine 256 of
  // them took more than 5 s and left no time to measure. More backends than cores never raised its
  // SELECT 1 rate here anyway: the sweep's points above 64 use the best of 1, 10 and 64.
  pgbenchMaxClients: 64,
  queuedWaiters: 10_000,
  drainTimeoutMs: 30_000,
  nodeMajors: [20, 24],
  only: null,
  cpuProf: false,
} as const

// About 135 timed runs per repetition (each row on each Node, pgbench beside). Client and server
// share two cores and single runs swing by a third, so many short paired repetitions settle a
// ratio better than a few long ones: ten of 0.5 s, about 25 minutes in all.
const FULL: BenchSettings = {
  ...COMMON,
  sweep: [...COMMON.sweep],
  nodeMajors: [...COMMON.nodeMajors],
  mode: 'full',
  repetitions: 10,
  warmupMs: 250,
  durationMs: 500,
  pgbenchSeconds: 1,
  // Six: the fewest runs on which a verdict can be given (verdict.ts).
  fairnessRepetitions: 6,
  endToEnd: { warmupSeconds: 3, seconds: 10, repetitions: 3, connections: 64 },
}

// Three repetitions of 0.25 s windows, every workload and both Nodes: a few minutes, to see that
// everything runs and roughly where things stand. Three repetitions are too few for any verdict
// (verdict.ts): its targets all read TIE, its medians are indicative only.
const QUICK: BenchSettings = {
  ...FULL,
  sweep: [...COMMON.sweep],
  nodeMajors: [...COMMON.nodeMajors],
  mode: 'quick',
  repetitions: 3,
  warmupMs: 150,
  durationMs: 250,
  pgbenchSeconds: 1,
  fairnessRepetitions: 2,
  endToEnd: { warmupSeconds: 1, seconds: 2, repetitions: 2, connections: 64 },
}

export const USAGE = `usage: npm run bench [-- [--quick] [--repetitions N] [--node 20,24] [--only ${WORKLOAD_GROUPS.join(',')}] [--cpu-prof]]
       npm run bench -- --render <results directory>

  --quick           3 short repetitions of everything: a few minutes; written to bench/results/trial/
  --repetitions N   repetitions of every row (full: ${FULL.repetitions}, quick: ${QUICK.repetitions})
  --node A,B        Node majors the peers run on, the first judged against the targets (default: ${COMMON.nodeMajors.join(',')});
                    a major other than the running Node's is fetched once from the npm registry
  --only X,Y        only these workloads (groups above, or select-one-<workers>); written to bench/results/trial/
  --cpu-prof        a V8 CPU profile of each peer's worker on each Node, in bench/results/profiles/<time>/
                    (open in Chrome DevTools or speedscope); profiling slows the peers, so written as a trial
  --render DIR      measure nothing: write DIR's results.md and charts (and, for a published run, bench/README.md)
                    again from DIR/results.json, after a change to how results are presented
  --help            this text`

export class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n${USAGE}`)
    this.name = 'UsageError'
  }
}

function positiveInteger(flag: string, value: string | undefined): number {
  const n = Number(value)
  if (value === undefined || !Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number >= 1, got ${value ?? 'nothing'}`)
  return n
}

function list(flag: string, value: string | undefined): string[] {
  const items = (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
  if (items.length === 0) throw new UsageError(`${flag} takes a comma-separated list`)
  return items
}

/** `--render DIR`: present the results a run saved in DIR again, measuring nothing. */
export interface RenderRequest {
  render: string
}

/** Settings for the command-line arguments; throws a UsageError on anything it does not know. */
export function settingsFromArgs(args: readonly string[]): BenchSettings | RenderRequest | 'help' {
  let quick = false
  let repetitions: number | undefined
  let nodeMajors: number[] | undefined
  let only: string[] | null = null
  let cpuProf = false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    const [flag, inline] =
      arg?.startsWith('--') === true && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    const value = (): string | undefined => inline ?? args[++i]
    switch (flag) {
      case '--help':
      case '-h':
        return 'help'
      case '--quick':
        quick = true
        break
      case '--render': {
        const dir = value()
        if (dir === undefined || dir === '') throw new UsageError('--render takes the directory of a run (bench/results/<date>-<host>)')
        if (args.length !== (inline === undefined ? 2 : 1)) throw new UsageError('--render takes no other option: it measures nothing')
        return { render: dir }
      }
      case '--cpu-prof':
        cpuProf = true
        break
      case '--repetitions':
        repetitions = positiveInteger('--repetitions', value())
        break
      case '--node':
        nodeMajors = list('--node', value()).map((major) => positiveInteger('--node', major))
        if (new Set(nodeMajors).size !== nodeMajors.length) throw new UsageError('--node names a Node major twice')
        break
      case '--only':
        only = list('--only', value())
        for (const name of only) {
          const known = (WORKLOAD_GROUPS as readonly string[]).includes(name) || /^select-one-\d+$/.test(name)
          if (!known) throw new UsageError(`--only: no workload ${name}`)
        }
        break
      default:
        throw new UsageError(`Unknown argument ${arg ?? ''}`)
    }
  }
  const base = quick ? QUICK : FULL
  for (const name of only ?? []) {
    const workers = /^select-one-(\d+)$/.exec(name)?.[1]
    if (workers !== undefined && !base.sweep.includes(Number(workers)))
      throw new UsageError(`--only: the SELECT 1 sweep has ${base.sweep.join(', ')} workers, not ${workers}`)
  }
  return { ...base, repetitions: repetitions ?? base.repetitions, nodeMajors: nodeMajors ?? base.nodeMajors, only, cpuProf }
}

/** Whether a workload (by id and group) is in this run. */
export function selected(settings: BenchSettings, id: string, group: string): boolean {
  return settings.only === null || settings.only.includes(group) || settings.only.includes(id)
}

/** A full run of everything, unprofiled, is the published one; anything else is a trial. */
export function isPublished(settings: BenchSettings): boolean {
  return settings.mode === 'full' && settings.only === null && !settings.cpuProf
}
