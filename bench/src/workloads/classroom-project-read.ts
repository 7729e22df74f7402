/**
 * End to end. The classroom service (Fastify, JWT, pgsteward) runs in this process on
 * a fresh database of the run's server; autocannon, in a process of its own, drives
 * GET /projects/:id (a read-only repeatable-read transaction plus file reads) over loopback.
 * The service's pool is sampled alongside. There is no peer here: it is pgsteward inside a real
 * service, so what it shows is whether the pool is the limit (waiting, acquire waits), not a ratio.
 *
 * It runs after every other workload, in the bench's main process: the service is TypeScript
 * loaded through tsx, as `npm start` runs it (pgsteward itself comes from its built dist/), and its
 * transactions turn on pgsteward's AsyncLocalStorage in this process.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { buildApp } from 'classroom/app'
import { loadConfig } from 'classroom/config'
import { migrateUp } from 'classroom/migrate'
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import { createDatabase, type Database } from 'pgsteward'
import { autocannonVersion, runAutocannon, type AutocannonFigures } from '../autocannon.ts'
import type { EndToEndResult, EndToEndRun } from '../results.ts'
import type { BenchSettings } from '../settings.ts'
import { median, medianOrNull } from '../stats.ts'
import { withTimeLimit } from '../time-limit.ts'

const POOL_MAX = 10
/** Often enough to catch short bursts of waiting; each sample is a few object copies. */
const SAMPLE_EVERY_MS = 10
const SHUTDOWN_LIMIT_MS = 15_000
/** A few small files, as a student's project has: the read returns their contents too. */
const FILES = [
  { path: 'index.html', content: '<!doctype html>\n<title>bench</title>\n<script src="main.js"></script>\n' },
  { path: 'main.js', content: 'console.log("hello from the bench")\n'.repeat(8) },
  { path: 'style.css', content: 'body { font-family: sans-serif; margin: 2rem; }\n' },
  { path: 'README.md', content: '# Bench project\n\nRead over and over by autocannon.\n' },
]

export interface EndToEndContext {
  settings: BenchSettings
  url: string
  admin: pg.Client
  progress: (line: string) => void
  throwIfInterrupted: () => void
}

/** The service and everything it holds, so that each piece can be released even after a failure. */
interface Service {
  databaseName?: string
  dataDir?: string
  db?: Database
  app?: FastifyInstance
  address?: string
}

export async function measureClassroomProjectRead(context: EndToEndContext): Promise<EndToEndResult> {
  const { endToEnd } = context.settings
  const runs: EndToEndRun[] = []
  const service: Service = {}
  let failure: string | null = null
  let finalStats: ReturnType<Database['stats']> | undefined
  try {
    const { db, address } = await startService(service, context)
    const { token, projectId } = await createProject(address)
    const target = { url: `${address}/projects/${projectId}`, connections: endToEnd.connections, headers: { authorization: `Bearer ${token}` } }
    context.progress(`[classroom-project-read] warm-up ${endToEnd.warmupSeconds} s`)
    await runAutocannon({ ...target, seconds: endToEnd.warmupSeconds })
    for (let repetition = 0; repetition < endToEnd.repetitions; repetition++) {
      context.throwIfInterrupted()
      const run = await measureRun(db, () => runAutocannon({ ...target, seconds: endToEnd.seconds }))
      runs.push(run)
      const figures =
        run.firstError === undefined
          ? `${Math.round(run.requestsPerSec)} req/s, p99 ${run.p99Ms} ms, peak waiting ${run.peakWaiting}`
          : `failed: ${run.firstError}`
      context.progress(`[classroom-project-read ${repetition + 1}/${endToEnd.repetitions}] ${figures}`)
    }
    finalStats = db.stats()
  } catch (err) {
    // Interruption ends the bench; anything else is this workload's failure, reported with it.
    if (err instanceof Error && err.message === 'interrupted') throw err
    failure = err instanceof Error ? err.message : String(err)
    context.progress(`[classroom-project-read] failed: ${failure}`)
  } finally {
    await stopService(service, context.admin)
  }
  return summarise(context.settings, runs, finalStats, failure)
}

async function startService(service: Service, context: EndToEndContext): Promise<{ db: Database; address: string }> {
  // A database of its own: the service's migrations must not meet the other workloads' tables.
  const databaseName = `pgsteward_bench_classroom_${randomBytes(4).toString('hex')}`
  await context.admin.query(`CREATE DATABASE "${databaseName}"`)
  service.databaseName = databaseName
  const databaseUrl = new URL(context.url)
  databaseUrl.pathname = `/${databaseName}`
  service.dataDir = await mkdtemp(path.join(os.tmpdir(), 'pgsteward-bench-classroom-'))
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: service.dataDir,
    DATABASE_URL: databaseUrl.toString(),
    JWT_SECRET: randomBytes(32).toString('hex'),
    SERVICE_SECRET: randomBytes(32).toString('hex'),
    DB_POOL_MAX: String(POOL_MAX),
  })
  // As main.ts opens it, less leak detection: nothing here holds a connection for long.
  const db = createDatabase({ connectionString: config.databaseUrl, applicationName: 'classroom', pool: { max: config.dbPoolMax } })
  service.db = db
  await migrateUp(db)
  const app = await buildApp({ config, db })
  service.app = app
  const address = await app.listen({ port: config.port, host: config.host })
  service.address = address
  return { db, address }
}

async function createProject(address: string): Promise<{ token: string; projectId: number }> {
  const login = await post(address, '/auth/login', undefined, { username: 'bench', groups: ['bench'] })
  const token = (login as { accessToken: string }).accessToken
  const project = await post(address, '/projects', token, { name: 'bench project', files: FILES })
  const projectId = (project as { id: number }).id
  // One read before loading it: a 4xx here would otherwise show only as a column of non-2xx.
  const check = await fetch(`${address}/projects/${projectId}`, { headers: { authorization: `Bearer ${token}` } })
  if (check.status !== 200) throw new Error(`GET /projects/${projectId} answered ${check.status}: ${await check.text()}`)
  return { token, projectId }
}

async function post(address: string, route: string, token: string | undefined, body: unknown): Promise<unknown> {
  const response = await fetch(`${address}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`POST ${route} answered ${response.status}: ${await response.text()}`)
  return response.json()
}

/** One autocannon run with the pool sampled throughout; its counters are read before and after. */
async function measureRun(db: Database, load: () => Promise<AutocannonFigures>): Promise<EndToEndRun> {
  let peakInUse = 0
  let peakWaiting = 0
  const sample = (): void => {
    const stats = db.stats()
    peakInUse = Math.max(peakInUse, stats.inUse)
    peakWaiting = Math.max(peakWaiting, stats.waiting)
  }
  const before = db.stats().counters
  const sampler = setInterval(sample, SAMPLE_EVERY_MS)
  try {
    const figures = await load()
    const after = db.stats().counters
    const answered = figures.requests
    return {
      ...figures,
      peakInUse,
      peakWaiting,
      acquiresPerRequest: answered > 0 ? (after.acquired - before.acquired) / answered : null,
      poolTimeouts: after.timeouts - before.timeouts,
    }
  } catch (err) {
    return failedRun(err)
  } finally {
    clearInterval(sampler)
  }
}

/** App first (it finishes in-flight requests on its pool), then the pool, then what they used. */
async function stopService(service: Service, admin: pg.Client): Promise<void> {
  const steps: (() => Promise<unknown>)[] = [
    async () => service.app?.close(),
    async () => service.db?.close({ timeoutMs: 10_000 }),
    async () => (service.databaseName === undefined ? undefined : admin.query(`DROP DATABASE IF EXISTS "${service.databaseName}" WITH (FORCE)`)),
    async () => (service.dataDir === undefined ? undefined : rm(service.dataDir, { recursive: true, force: true })),
  ]
  // Each step on its own: one failing must not leave the others undone.
  for (const step of steps) await withTimeLimit(step(), SHUTDOWN_LIMIT_MS, 'stopping the classroom service').catch(() => undefined)
}

function failedRun(err: unknown): EndToEndRun {
  return {
    requestsPerSec: NaN,
    p50Ms: NaN,
    p97_5Ms: NaN,
    p99Ms: NaN,
    requests: 0,
    non2xx: 0,
    errors: 1,
    timeouts: 0,
    peakInUse: 0,
    peakWaiting: 0,
    acquiresPerRequest: null,
    poolTimeouts: 0,
    firstError: err instanceof Error ? err.message : String(err),
  }
}

function summarise(settings: BenchSettings, runs: EndToEndRun[], stats: ReturnType<Database['stats']> | undefined, failure: string | null): EndToEndResult {
  const { endToEnd } = settings
  const ok = runs.filter((run) => run.firstError === undefined)
  const rates = ok.map((run) => run.requestsPerSec)
  const waits = stats?.acquireWaitMs
  return {
    id: 'classroom-project-read',
    title: 'End to end: classroom project read',
    description: `The classroom service (Fastify, pgsteward pool max ${POOL_MAX}) in the bench process on a database of its own; GET /projects/:id (one read-only transaction, ${FILES.length} small files) driven by autocannon in a separate process over loopback.`,
    connections: endToEnd.connections,
    poolMax: POOL_MAX,
    autocannonVersion: autocannonVersion(),
    runs,
    requestsPerSecMedian: rates.length === 0 ? null : median(rates),
    requestsPerSecMin: rates.length === 0 ? null : Math.min(...rates),
    requestsPerSecMax: rates.length === 0 ? null : Math.max(...rates),
    p50Ms: medianOrNull(ok.map((run) => run.p50Ms)),
    p99Ms: medianOrNull(ok.map((run) => run.p99Ms)),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    errors: runs.reduce((sum, run) => sum + run.errors + run.timeouts, 0),
    peakInUse: Math.max(0, ...runs.map((run) => run.peakInUse)),
    peakWaiting: Math.max(0, ...runs.map((run) => run.peakWaiting)),
    acquireWaitP99Ms: waits === undefined || waits.count === 0 ? null : waits.p99,
    acquireWaitMaxMs: waits === undefined || waits.count === 0 ? null : waits.max,
    acquireWaits: waits?.count ?? 0,
    poolTimeouts: runs.reduce((sum, run) => sum + run.poolTimeouts, 0),
    failure,
  }
}
