/**
 * Runs a throughput workload: every runnable entry once per repetition, in an order rotated each
 * repetition (so no peer always follows the same one), each pooled peer in its own worker thread
 * on a pool opened for the run and closed after it. Then summarises each peer's runs into a row.
 */
import type pg from 'pg'
import type { ClosedLoopRun } from './closed-loop.ts'
import type { PeerThreads } from './peer-threads.ts'
import type { Pgbench } from './pgbench.ts'
import type { PeerRow, RunSample, ThroughputWorkloadResult } from './results.ts'
import type { BenchSettings } from './settings.ts'
import { LatencyHistogram, median, medianOrNull } from './stats.ts'
import { PGSTEWARD, type PgbenchEntry, type PooledEntry, type ThroughputWorkload, type WorkloadEntry } from './workloads/workload.ts'

export interface MeasureContext {
  settings: BenchSettings
  url: string
  admin: pg.Client
  pgbench: Pgbench | undefined
  threads: PeerThreads
  progress: (line: string) => void
  throwIfInterrupted: () => void
}

type RunnableEntry = PooledEntry | PgbenchEntry

export async function measureThroughputWorkload(workload: ThroughputWorkload, context: MeasureContext): Promise<ThroughputWorkloadResult> {
  const { settings } = context
  const runnable = workload.entries.filter((entry): entry is RunnableEntry => entry.kind !== 'n/a' && (entry.kind !== 'pgbench' || context.pgbench !== undefined))
  const samples = new Map<string, RunSample[]>(runnable.map((entry) => [entry.label, []]))
  const latencies = new Map<string, LatencyHistogram>(runnable.map((entry) => [entry.label, new LatencyHistogram()]))

  for (let repetition = 0; repetition < settings.repetitions; repetition++) {
    const shift = repetition % runnable.length
    const order = [...runnable.slice(shift), ...runnable.slice(0, shift)]
    for (const entry of order) {
      context.throwIfInterrupted()
      await workload.beforeEachRun?.(context.admin)
      const run = await runEntry(entry, workload.workers, context).catch((err: unknown) => failedRun(err))
      samples.get(entry.label)?.push(run.sample)
      latencies.get(entry.label)?.merge(run.latencies)
      const failure = run.sample.firstError === undefined ? '' : `  (${run.sample.errors} errors, first: ${run.sample.firstError})`
      context.progress(`[${workload.id} ${repetition + 1}/${settings.repetitions}] ${entry.label}: ${Math.round(run.sample.opsPerSec).toLocaleString('en-US')} ops/s${failure}`)
    }
  }

  const rows = workload.entries.map((entry) => summarise(entry, samples.get(entry.label) ?? [], latencies.get(entry.label), context))
  const subject = rows.find((row) => row.label === PGSTEWARD)?.opsPerSecMedian ?? null
  for (const row of rows) {
    if (row.kind !== 'n/a' && row.opsPerSecMedian !== null && subject !== null) row.pgstewardOverPeer = subject / row.opsPerSecMedian
  }
  return {
    id: workload.id,
    title: workload.title,
    description: workload.description,
    workers: workload.workers,
    poolMax: settings.poolMax,
    rows,
    pgbenchReference: null,
  }
}

async function runEntry(entry: RunnableEntry, workers: number, context: MeasureContext): Promise<ClosedLoopRun> {
  const { settings } = context
  if (entry.kind === 'pgbench') {
    if (context.pgbench === undefined) throw new Error('pgbench is not available')
    return context.pgbench.run({
      name: entry.label.replace(/\W+/g, '-'),
      script: entry.script,
      protocol: entry.protocol,
      clients: workers,
      threads: 2,
      seconds: settings.pgbenchSeconds,
    })
  }
  const loop = { workers, warmupMs: settings.warmupMs, durationMs: settings.durationMs, drainTimeoutMs: settings.drainTimeoutMs }
  const job = { kind: 'closed-loop', peer: entry.peer, operation: entry.operation, url: context.url, poolMax: settings.poolMax, loop } as const
  // Room beyond the loop's own bounds for starting the worker, connecting and closing.
  const outcome = await context.threads.run(job, settings.warmupMs + settings.durationMs + settings.drainTimeoutMs + 60_000)
  if (outcome.kind !== 'closed-loop') throw new Error(`unexpected ${outcome.kind} reply to a closed-loop job`)
  return { sample: outcome.sample, latencies: LatencyHistogram.fromSnapshot(outcome.latencies) }
}

function failedRun(err: unknown): ClosedLoopRun {
  return {
    latencies: new LatencyHistogram(),
    sample: { opsPerSec: 0, ops: 0, seconds: 0, p50Ms: NaN, p99Ms: NaN, cpuPercent: null, cpuMicrosPerOp: null, errors: 1, firstError: err instanceof Error ? err.message : String(err) },
  }
}

function summarise(entry: WorkloadEntry, runs: RunSample[], latencies: LatencyHistogram | undefined, context: MeasureContext): PeerRow {
  // A run that completed nothing failed; it is reported (errors, note) but not averaged in as 0.
  const completed = runs.filter((run) => run.ops > 0)
  const notRun = entry.kind === 'n/a' || completed.length === 0
  const note = entry.kind === 'pgbench' && context.pgbench === undefined ? 'pgbench not found: not run' : entry.note
  const rates = completed.map((run) => run.opsPerSec)
  return {
    label: entry.label,
    kind: entry.kind,
    ...(note === undefined ? {} : { note }),
    runs,
    opsPerSecMedian: notRun ? null : median(rates),
    opsPerSecMin: notRun ? null : Math.min(...rates),
    opsPerSecMax: notRun ? null : Math.max(...rates),
    p50Ms: notRun || latencies === undefined || latencies.count === 0 ? null : latencies.percentile(0.5),
    p99Ms: notRun || latencies === undefined || latencies.count === 0 ? null : latencies.percentile(0.99),
    cpuPercentMedian: medianOrNull(completed.map((run) => run.cpuPercent)),
    cpuMicrosPerOpMedian: medianOrNull(completed.map((run) => run.cpuMicrosPerOp)),
    meanLatencyMs: medianOrNull(completed.map((run) => run.meanLatencyMs ?? null)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    pgstewardOverPeer: null,
    peerOverBestPgbench: null,
  }
}

/**
 * Fill the last column: each peer over the best pgbench mode of its workload, or of the workload
 * it names as reference when it has no pgbench rows of its own.
 */
export function attachPgbenchReferences(results: ThroughputWorkloadResult[], workloads: readonly ThroughputWorkload[]): void {
  const bestPgbench = (result: ThroughputWorkloadResult): PeerRow | undefined =>
    result.rows
      .filter((row) => row.kind === 'pgbench' && row.opsPerSecMedian !== null && row.opsPerSecMedian > 0)
      .sort((a, b) => (b.opsPerSecMedian ?? 0) - (a.opsPerSecMedian ?? 0))[0]
  for (const result of results) {
    const referenceId = workloads.find((w) => w.id === result.id)?.pgbenchReferenceFrom ?? result.id
    const source = results.find((r) => r.id === referenceId)
    const best = source === undefined ? undefined : bestPgbench(source)
    if (best?.opsPerSecMedian == null) continue
    result.pgbenchReference = { label: best.label, opsPerSec: best.opsPerSecMedian, workloadId: referenceId }
    for (const row of result.rows) {
      if (row.opsPerSecMedian !== null) row.peerOverBestPgbench = row.opsPerSecMedian / best.opsPerSecMedian
    }
  }
}
