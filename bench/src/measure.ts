/**
 * Runs a throughput workload: every row (each peer on each Node version, and pgbench) once per
 * repetition, in the interleaved order of interleave.ts, each pooled peer in its own worker thread
 * on a pool opened for the run and closed after it. Then summarises each row, and compares each
 * pgsteward row with the best peer on its Node, repetition by repetition.
 */
import type pg from 'pg'
import { bootstrapMedianInterval } from './bootstrap.ts'
import type { ClosedLoopRun } from './closed-loop.ts'
import { interleavedOrder } from './interleave.ts'
import { countReferences, ratiosToBestPeer } from './paired-ratios.ts'
import type { PeerHosts, Runtime } from './peer-hosts.ts'
import { PEERS } from './peers/registry.ts'
import type { Pgbench } from './pgbench.ts'
import type { Comparison, RowResult, RunSample, WorkloadResult } from './results.ts'
import type { BenchSettings } from './settings.ts'
import { LatencyHistogram, medianOrNull } from './stats.ts'
import type { PgbenchSpec, RowSpec, ThroughputWorkload } from './workloads/workload.ts'

export interface MeasureContext {
  settings: BenchSettings
  url: string
  admin: pg.Client
  pgbench: Pgbench | undefined
  hosts: PeerHosts
  runtimes: Runtime[]
  progress: (line: string) => void
  throwIfInterrupted: () => void
  /** Runs done and to do over the whole bench, for the time-left estimate. */
  tally: RunTally
}

export class RunTally {
  readonly total: number
  #done = 0
  readonly #began = Date.now()

  constructor(total: number) {
    this.total = total
  }

  /** Count one run; returns `run 12/340, ~9 min left`. */
  step(): string {
    this.#done++
    const perRun = (Date.now() - this.#began) / this.#done
    const leftMinutes = ((this.total - this.#done) * perRun) / 60_000
    const left = leftMinutes < 1 ? `${Math.round(leftMinutes * 60)} s` : `${leftMinutes.toFixed(leftMinutes < 10 ? 1 : 0)} min`
    return `run ${this.#done}/${this.total}, ~${left} left`
  }
}

/** A row of the table as scheduled: what runs, where, and what it accumulates. */
interface PlannedRow {
  result: RowResult
  run?: (context: MeasureContext) => Promise<ClosedLoopRun>
  latencies: LatencyHistogram
}

/** How many timed runs a workload makes per repetition on these Node versions (for the tally). */
export function runsPerRepetition(workload: ThroughputWorkload, runtimes: readonly Runtime[], pgbench: boolean): number {
  const pooled = workload.rows.filter((row) => row.operation !== null).length * runtimes.length
  return pooled + (pgbench ? workload.pgbench.length : 0)
}

export async function measureThroughputWorkload(workload: ThroughputWorkload, context: MeasureContext): Promise<WorkloadResult> {
  const { settings } = context
  const planned = planRows(workload, context)
  const runnable = planned.filter((row) => row.run !== undefined)

  for (let repetition = 0; repetition < settings.repetitions; repetition++) {
    for (const row of interleavedOrder(runnable, repetition)) {
      context.throwIfInterrupted()
      await workload.beforeEachRun?.(context.admin)
      const run = await (row.run as (context: MeasureContext) => Promise<ClosedLoopRun>)(context).catch((err: unknown) => failedRun(err))
      row.result.runs[repetition] = run.sample
      row.latencies.merge(run.latencies)
      const where = row.result.runtime === null ? '' : `${row.result.runtime} `
      context.progress(
        `[${workload.id} ${repetition + 1}/${settings.repetitions}] ${where}${row.result.label}: ${describeSample(run.sample)}  (${context.tally.step()})`,
      )
    }
  }

  const rows = planned.map((row) => summarise(row))
  return {
    id: workload.id,
    group: workload.group,
    title: workload.title,
    description: workload.description,
    workers: workload.workers,
    poolMax: settings.poolMax,
    rows,
    comparisons: compare(rows, context.runtimes),
    pgbenchReference: null,
  }
}

function describeSample(sample: RunSample): string {
  const rate = `${Math.round(sample.opsPerSec).toLocaleString('en-US')} ops/s`
  const cpu = sample.cpuMicrosPerOp === null ? '' : `, ${sample.cpuMicrosPerOp.toFixed(1)} µs CPU/op`
  const failure = sample.firstError === undefined ? '' : `  (${sample.errors} errors, first: ${sample.firstError})`
  return `${rate}${cpu}${failure}`
}

function emptyRow(key: string, label: string, kind: RowResult['kind'], repetitions: number, extra: Partial<RowResult>): RowResult {
  return {
    key,
    label,
    kind,
    peer: null,
    runtime: null,
    runs: new Array<RunSample | null>(repetitions).fill(null),
    opsPerSec: null,
    opsPerSecMin: null,
    opsPerSecMax: null,
    p50Ms: null,
    p99Ms: null,
    cpuPercentMedian: null,
    cpuMicrosPerOpMedian: null,
    processCpuMicrosPerOpMedian: null,
    meanLatencyMs: null,
    errors: 0,
    overPgbenchBest: null,
    ...extra,
  }
}

function planRows(workload: ThroughputWorkload, context: MeasureContext): PlannedRow[] {
  const { repetitions } = context.settings
  const pooled = context.runtimes.flatMap((runtime) =>
    workload.rows.map((spec): PlannedRow => {
      const info = PEERS[spec.peer]
      const note = spec.note ?? info.note
      const result = emptyRow(`${runtime.id}/${spec.peer}`, spec.label ?? info.label, spec.operation === null ? 'n/a' : info.role, repetitions, {
        peer: spec.peer,
        runtime: runtime.id,
        ...(note === undefined ? {} : { note }),
      })
      return {
        result,
        latencies: new LatencyHistogram(),
        ...(spec.operation === null ? {} : { run: (c: MeasureContext) => runPooled(spec, runtime, workload.workers, c) }),
      }
    }),
  )
  const pgbench = workload.pgbench.map((spec): PlannedRow => {
    const available = context.pgbench !== undefined
    const result = emptyRow(`pgbench/${spec.label}`, spec.label, 'pgbench', repetitions, { note: available ? spec.note : 'pgbench not found: not run' })
    return { result, latencies: new LatencyHistogram(), ...(available ? { run: (c: MeasureContext) => runPgbench(spec, c) } : {}) }
  })
  return [...pooled, ...pgbench]
}

async function runPooled(spec: RowSpec, runtime: Runtime, workers: number, context: MeasureContext): Promise<ClosedLoopRun> {
  const { settings } = context
  if (spec.operation === null) throw new Error(`${spec.peer} has no operation here`)
  const loop = { workers, warmupMs: settings.warmupMs, durationMs: settings.durationMs, drainTimeoutMs: settings.drainTimeoutMs }
  const job = { kind: 'closed-loop', peer: spec.peer, operation: spec.operation, url: context.url, poolMax: settings.poolMax, loop } as const
  // Room beyond the loop's own bounds for loading the library, connecting and closing.
  const outcome = await context.hosts.run(runtime, job, settings.warmupMs + settings.durationMs + settings.drainTimeoutMs + 60_000)
  if (outcome.kind !== 'closed-loop') throw new Error(`unexpected ${outcome.kind} reply to a closed-loop job`)
  return { sample: outcome.sample, latencies: LatencyHistogram.fromSnapshot(outcome.latencies) }
}

function runPgbench(spec: PgbenchSpec, context: MeasureContext): Promise<ClosedLoopRun> {
  if (context.pgbench === undefined) return Promise.reject(new Error('pgbench is not available'))
  return context.pgbench.run({
    name: spec.label.replace(/\W+/g, '-'),
    script: spec.script,
    protocol: spec.protocol,
    clients: spec.clients,
    threads: Math.min(2, spec.clients),
    seconds: pgbenchSeconds(context.settings, spec.clients),
  })
}

/**
 * pgbench's -T also covers opening its connections, one server process each, and on a loaded
 * two-core machine 64 of them took 1.4 s (and 256 more than 3 s, leaving no time to measure):
 * a second more for every 64 clients. Its tps leaves the connecting time out.
 */
export function pgbenchSeconds(settings: BenchSettings, clients: number): number {
  return settings.pgbenchSeconds + Math.ceil(clients / 64)
}

function failedRun(err: unknown): ClosedLoopRun {
  return {
    latencies: new LatencyHistogram(),
    sample: {
      opsPerSec: 0,
      ops: 0,
      seconds: 0,
      p50Ms: NaN,
      p99Ms: NaN,
      cpuPercent: null,
      cpuMicrosPerOp: null,
      processCpuMicrosPerOp: null,
      errors: 1,
      firstError: err instanceof Error ? err.message : String(err),
    },
  }
}

function summarise({ result, latencies }: PlannedRow): RowResult {
  const ran = result.runs.filter((run): run is RunSample => run !== null)
  // A run that completed nothing failed; it is reported (errors, note) but not averaged in as 0.
  const completed = ran.filter((run) => run.ops > 0)
  if (completed.length === 0) return { ...result, errors: ran.reduce((sum, run) => sum + run.errors, 0) }
  const rates = completed.map((run) => run.opsPerSec)
  const merged = latencies.count > 0
  return {
    ...result,
    opsPerSec: bootstrapMedianInterval(rates),
    opsPerSecMin: Math.min(...rates),
    opsPerSecMax: Math.max(...rates),
    p50Ms: merged ? latencies.percentile(0.5) : null,
    p99Ms: merged ? latencies.percentile(0.99) : null,
    cpuPercentMedian: medianOrNull(completed.map((run) => run.cpuPercent)),
    cpuMicrosPerOpMedian: medianOrNull(completed.map((run) => run.cpuMicrosPerOp)),
    processCpuMicrosPerOpMedian: medianOrNull(completed.map((run) => run.processCpuMicrosPerOp)),
    meanLatencyMs: medianOrNull(completed.map((run) => run.meanLatencyMs ?? null)),
    errors: ran.reduce((sum, run) => sum + run.errors, 0),
  }
}

/** Per repetition's ops/s of a row: null where it was not run, 0 where it failed. */
export function opsByRepetition(row: RowResult): (number | null)[] {
  return row.runs.map((run) => (run === null ? null : run.opsPerSec))
}

/** Each pgsteward row against the best pooled peer on its own Node. */
function compare(rows: readonly RowResult[], runtimes: readonly Runtime[]): Comparison[] {
  const comparisons: Comparison[] = []
  for (const runtime of runtimes) {
    const onRuntime = rows.filter((row) => row.runtime === runtime.id)
    const peers = new Map(onRuntime.filter((row) => row.kind === 'peer').map((row) => [row.label, opsByRepetition(row)]))
    if (peers.size === 0) continue
    for (const subject of onRuntime.filter((row) => row.kind === 'subject')) {
      const { ratios, reference } = ratiosToBestPeer(opsByRepetition(subject), peers)
      comparisons.push({
        subjectKey: subject.key,
        runtime: runtime.id,
        ratios,
        bestPeer: reference,
        interval: bootstrapMedianInterval(ratios.filter((ratio): ratio is number => ratio !== null)),
        bestPeerCounts: countReferences(reference),
      })
    }
  }
  return comparisons
}

/**
 * Fill the last column: each row over the best pgbench row of its workload, or, for a workload
 * without one, of the workloads of its reference group.
 */
export function attachPgbenchReferences(results: WorkloadResult[], workloads: readonly ThroughputWorkload[]): void {
  const bestPgbench = (candidates: readonly WorkloadResult[]): { label: string; opsPerSec: number; workloadId: string } | null => {
    let best: { label: string; opsPerSec: number; workloadId: string } | null = null
    for (const result of candidates) {
      for (const row of result.rows) {
        const rate = row.opsPerSec?.median
        if (row.kind === 'pgbench' && rate !== undefined && rate > 0 && (best === null || rate > best.opsPerSec))
          best = { label: row.label, opsPerSec: rate, workloadId: result.id }
      }
    }
    return best
  }
  for (const result of results) {
    const workload = workloads.find((w) => w.id === result.id)
    const own = bestPgbench([result])
    const group = workload?.pgbenchReferenceGroup
    const reference = own ?? (group === undefined ? null : bestPgbench(results.filter((r) => r.group === group)))
    result.pgbenchReference = reference
    if (reference === null) continue
    for (const row of result.rows) {
      if (row.opsPerSec !== null) row.overPgbenchBest = row.opsPerSec.median / reference.opsPerSec
    }
  }
}
