/**
 * `npm run lab [-- --quick] [--users N] [--only 3,5] [--variant naive]`: every scenario, naive then pgsteward, on
 * fresh databases; a table in the terminal, lab/report.json and lab/report.html. Exits non-zero
 * if any pgsteward variant violated its invariant. Loopback only; every run is bounded in time.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { startEmbeddedServer, type EmbeddedServer } from '@pgsteward/embedded-postgres'
import { connectionCensus } from './checks/connections.ts'
import { Recorder } from './recorder.ts'
import { renderHtml } from './report/html.ts'
import { renderTable } from './report/table.ts'
import type { Scenario, ScenarioContext, VariantName, VariantReport } from './scenario.ts'
import { SCENARIOS } from './scenarios/index.ts'
import { createDatabase, startPrivateServer, withAdmin, type ControllableServer } from './servers.ts'

interface Options {
  quick: boolean
  users: number
  only: Set<number> | undefined
  /** Both by default; one of them with --variant. */
  variants: VariantName[]
  outDir: string
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    quick: false,
    users: 100,
    only: undefined,
    variants: ['naive', 'pgsteward'],
    outDir: fileURLToPath(new URL('..', import.meta.url)),
  }
  let usersGiven = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--quick') options.quick = true
    else if (arg === '--users') {
      const n = Number(argv[++i])
      if (!Number.isInteger(n) || n < 2 || n > 1000) throw new Error('--users takes an integer from 2 to 1000')
      options.users = n
      usersGiven = true
    } else if (arg === '--only') {
      const ids = (argv[++i] ?? '').split(',').map(Number)
      const known = new Set(SCENARIOS.map((scenario) => scenario.id))
      // A typo must not turn into a run of nothing that reports success.
      if (ids.length === 0 || !ids.every((id) => known.has(id)))
        throw new Error(`--only takes scenario numbers separated by commas, from: ${[...known].join(', ')}`)
      options.only = new Set(ids)
    } else if (arg === '--variant') {
      const variant = argv[++i]
      if (variant !== 'naive' && variant !== 'pgsteward') throw new Error('--variant takes naive or pgsteward')
      options.variants = [variant]
    } else if (arg === '--out') {
      options.outDir = path.resolve(argv[++i] ?? '.')
    } else {
      throw new Error(`unknown option ${arg}: use --quick, --users N, --only 1,2, --variant naive|pgsteward, --out DIR`)
    }
  }
  if (options.quick && !usersGiven) options.users = 40
  return options
}

const SETTLE_MS = 300

function deadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not finish within ${ms / 1000} s`)), ms)
    work.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(timer)
        reject(e instanceof Error ? e : new Error(String(e)))
      },
    )
  })
}

async function runVariant(
  scenario: Scenario,
  variant: VariantName,
  adminUrl: string,
  server: ControllableServer | undefined,
  options: Options,
  crashes: readonly unknown[],
): Promise<{ report: VariantReport; outcome: unknown; finished: boolean }> {
  const crashesBefore = crashes.length
  const database = await createDatabase(adminUrl, `${scenario.id}_${variant}`)
  const dir = await mkdtemp(path.join(os.tmpdir(), `lab-${scenario.id}-${variant}-`))
  const recorder = new Recorder()
  const notes: string[] = []
  const cleanups: (() => Promise<unknown>)[] = []
  const applicationName = `lab-${scenario.id}-${variant}`
  const ctx: ScenarioContext = {
    variant,
    users: options.users,
    quick: options.quick,
    databaseUrl: database.url,
    applicationName,
    dir,
    recorder,
    server,
    admin: <T>(text: string, values?: unknown[]) => withAdmin(database.url, async (c) => (await c.query(text, values)).rows as T[]),
    note: (text) => notes.push(text),
    onCleanup: (work) => cleanups.push(work),
  }
  const violations: string[] = []
  const started = performance.now()
  let outcome: unknown
  let finished = false
  try {
    if (scenario.setup) await withAdmin(database.url, (c) => scenario.setup?.(ctx, c) ?? Promise.resolve())
    outcome = await deadline(scenario[variant](ctx), options.quick ? 45_000 : 120_000)
    finished = true
  } catch (err) {
    violations.push(`the run itself failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  const durationMs = Math.round(performance.now() - started)
  await new Promise((r) => setTimeout(r, SETTLE_MS))
  let census = { active: 0, idleInTransaction: 0, idle: 0 }
  try {
    census = await connectionCensus(ctx)
    if (finished) violations.push(...(await scenario.check(ctx, outcome)))
  } catch (err) {
    violations.push(`the invariant check could not run: ${err instanceof Error ? err.message : String(err)}`)
  }
  // Crashes during the work and the checks count; the lab's own cleanup below may kill leaked sessions, which is not the variant's doing.
  const crashed = crashes.length - crashesBefore
  if (crashed > 0) {
    const first = crashes[crashesBefore]
    violations.push(`${crashed} uncaught exception(s): the process would have crashed (first: ${first instanceof Error ? first.message : String(first)})`)
  }
  for (const cleanup of cleanups) await deadline(cleanup(), 5_000).catch(() => undefined)
  // Whatever a variant leaked must not spill into the next one: DROP ... WITH (FORCE) ends its sessions.
  await database.drop().catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
  const summary = recorder.summary()
  const report: VariantReport = {
    scenario: scenario.name,
    id: scenario.id,
    variant,
    operations: summary.operations,
    ok: summary.ok,
    errors: summary.errors,
    violations,
    leakedConnections: census.active,
    dirtyConnections: census.idleInTransaction,
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    maxMs: summary.maxMs,
    durationMs,
    notes,
    timeline: summary.timeline,
  }
  return { report, outcome, finished }
}

function skippedReport(scenario: Scenario, variant: VariantName, reason: string): VariantReport {
  return {
    scenario: scenario.name,
    id: scenario.id,
    variant,
    skipped: reason,
    operations: 0,
    ok: 0,
    errors: {},
    violations: [],
    leakedConnections: 0,
    dirtyConnections: 0,
    p50Ms: 0,
    p99Ms: 0,
    maxMs: 0,
    durationMs: 0,
    notes: [],
    timeline: [],
  }
}

/**
 * Why each variant cannot run, if it cannot. A scenario proves something only as a pair, so when
 * both variants are asked for and pgsteward's cannot run, the scenario is skipped whole; `--variant
 * naive` runs the naive side alone, to show the failure before pgsteward's side exists.
 */
async function skipReasons(scenario: Scenario, options: Options): Promise<Record<VariantName, string | undefined>> {
  const naive = await scenario.unavailable?.('naive')
  const pgsteward = await scenario.unavailable?.('pgsteward')
  if (pgsteward !== undefined && naive === undefined && options.variants.includes('pgsteward')) {
    return { naive: `${pgsteward} (its naive variant runs alone with --only ${scenario.id} --variant naive)`, pgsteward }
  }
  return { naive, pgsteward }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2))
  const startedAt = performance.now()
  let shared: EmbeddedServer | undefined
  let adminUrl = process.env.DATABASE_URL
  if (!adminUrl) {
    shared = await startEmbeddedServer()
    adminUrl = shared.url
  }
  let privateServer: Awaited<ReturnType<typeof startPrivateServer>> | undefined
  const reports: VariantReport[] = []
  // Naive pools emit 'error' on idle clients without a listener: in an application that is a crash.
  // The lab counts such crashes instead of dying from them.
  const crashes: unknown[] = []
  const onCrash = (err: unknown): void => {
    crashes.push(err)
  }
  process.on('uncaughtException', onCrash)
  try {
    for (const scenario of SCENARIOS) {
      if (options.only && !options.only.has(scenario.id)) continue
      const skip = await skipReasons(scenario, options)
      const runs: Partial<Record<VariantName, { report: VariantReport; outcome: unknown; finished: boolean }>> = {}
      for (const variant of options.variants) {
        const reason = skip[variant]
        if (reason !== undefined) {
          console.log(`# ${scenario.id} ${scenario.name} [${variant}] skipped: ${reason}`)
          reports.push(skippedReport(scenario, variant, reason))
          continue
        }
        if (scenario.needsPrivateServer) privateServer ??= await startPrivateServer()
        const server = scenario.needsPrivateServer ? privateServer : undefined
        process.stdout.write(`# ${scenario.id} ${scenario.name} [${variant}] ...`)
        const run = await runVariant(scenario, variant, server?.adminUrl ?? adminUrl, server, options, crashes)
        runs[variant] = run
        reports.push(run.report)
        process.stdout.write(` ${run.report.violations.length === 0 ? 'invariant held' : `${run.report.violations.length} violation(s)`}\n`)
      }
      const { naive, pgsteward } = runs
      if (scenario.compare && pgsteward?.finished) {
        if (naive?.finished) {
          const found = scenario.compare(naive.outcome, pgsteward.outcome, (text) => pgsteward.report.notes.push(text))
          if (options.quick) {
            // Comparisons are of timing (back no later than naive): a quick run, which npm test
            // makes on whatever machine it gets, reports them but judges only behaviour.
            pgsteward.report.notes.push(...found.map((text) => `not judged in a quick run (timing on a possibly busy machine): ${text}`))
          } else {
            if (found.length > 0) console.log(`# ${scenario.id} ${scenario.name} [pgsteward] against naive: ${found.length} violation(s)`)
            pgsteward.report.violations.push(...found)
          }
        } else if (naive) {
          // An invariant that could not be checked must not read as held.
          pgsteward.report.violations.push('the comparison with naive could not run: the naive run did not finish')
        } else {
          pgsteward.report.notes.push('not compared with naive: the naive variant did not run')
        }
      }
    }
  } finally {
    process.off('uncaughtException', onCrash)
    await privateServer?.dispose()
    await shared?.stop({ removeData: true })
  }
  console.log(`\n${renderTable(reports)}`)
  await mkdir(options.outDir, { recursive: true })
  const meta = {
    date: new Date().toISOString(),
    machine: `${os.hostname()}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
    users: options.users,
    quick: options.quick,
  }
  await writeFile(path.join(options.outDir, 'report.json'), JSON.stringify({ ...meta, reports }, null, 2))
  await writeFile(path.join(options.outDir, 'report.html'), renderHtml(reports, meta))
  const failed = reports.filter((r) => r.variant === 'pgsteward' && r.violations.length > 0)
  // A naive variant that shows nothing proves nothing: say so, though it is not pgsteward's failure.
  const silent = reports.filter((r) => r.variant === 'naive' && r.skipped === undefined && r.violations.length === 0)
  if (silent.length > 0) console.log(`\nnaive variants that did not show their incident: ${silent.map((r) => `${r.id} ${r.scenario}`).join(', ')}`)
  console.log(`\nlab finished in ${((performance.now() - startedAt) / 1000).toFixed(1)} s; report: ${path.join(options.outDir, 'report.html')}`)
  if (failed.length > 0) {
    console.log(`pgsteward violated ${failed.length} invariant(s): ${failed.map((f) => `${f.id} ${f.scenario}`).join(', ')}`)
    return 1
  }
  const ran = reports.filter((r) => r.variant === 'pgsteward' && r.skipped === undefined).length
  const skipped = reports.filter((r) => r.variant === 'pgsteward' && r.skipped !== undefined).length
  console.log(`every pgsteward variant that ran held its invariant (${ran} ran${skipped > 0 ? `, ${skipped} skipped` : ''})`)
  return 0
}

// process.exit, not process.exitCode: embedded-postgres's exit hook turns 'beforeExit' into
// process.exit(0), which would report a run with broken invariants as a success.
process.exit(await main())
