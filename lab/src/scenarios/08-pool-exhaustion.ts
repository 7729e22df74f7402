/**
 * Incident 004 (and 000 before its fix): the seed's pool, `pool_size=5, max_overflow=10,
 * pool_timeout=5` (15 connections, 5 s wait), under far more concurrent requests than connections,
 * with the handler of incident 003 that holds one connection and asks the pool for a second (an
 * audit write). Every connection ends up held by a handler waiting for another: the pool is
 * exhausted for good and every request hangs until the timeout. What matters: every request
 * settles well within the timeout, and the server never sees more connections than the pool.
 */
import { performance } from 'node:perf_hooks'
import { sql } from 'pgsteward'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

/** The seed's settings: pool_size 5 plus max_overflow 10; pool_timeout 5 s. */
const POOL = 5 + 10
const POOL_TIMEOUT_MS = 5_000

function crowd(ctx: Pick<ScenarioContext, 'users' | 'quick'>): number {
  return Math.max(ctx.users, ctx.quick ? 300 : 1000)
}

async function watchServer(ctx: ScenarioContext): Promise<() => Promise<number>> {
  let peak = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const [row] = await ctx.admin<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [ctx.applicationName])
      peak = Math.max(peak, row?.n ?? 0)
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  return async () => {
    running = false
    await loop
    return peak
  }
}

export interface CrowdOutcome {
  peakServerConnections: number
  slowest: number
  users: number
  failed: number
  /** Requests that took the whole pool timeout or longer: for their user, they hung. */
  hung: number
}

/** The whole crowd runs one request each at once while the server's connection count is watched. */
async function crowdAt(ctx: ScenarioContext, request: (i: number) => Promise<unknown>): Promise<CrowdOutcome> {
  const stop = await watchServer(ctx)
  let slowest = 0
  let failed = 0
  let hung = 0
  const users = crowd(ctx)
  await virtualUsers(users, async (i) => {
    const started = performance.now()
    const r = await ctx.recorder.op(() => request(i))
    const took = performance.now() - started
    if (!r.ok) failed++
    if (took >= POOL_TIMEOUT_MS) hung++
    slowest = Math.max(slowest, took)
  })
  return { peakServerConnections: await stop(), slowest, users, failed, hung }
}

export default defineScenario<CrowdOutcome>({
  id: 8,
  name: 'pool exhaustion at 1000 users',
  incident: '004_e1a87ec9d4337d1f.txt',
  failure:
    "the seed's pool (5 + 10 overflow, 5 s timeout) and a handler holding one connection while asking for another: every request hangs until the timeout",

  async setup(ctx, client) {
    await client.query('CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL)')
    await client.query('INSERT INTO account SELECT g, 0 FROM generate_series(0, $1) g', [crowd(ctx)])
    await client.query('CREATE TABLE audit (account int NOT NULL, at timestamptz NOT NULL DEFAULT now())')
  },

  async naive(ctx) {
    const pool = naivePool(ctx, { max: POOL, connectionTimeoutMillis: POOL_TIMEOUT_MS })
    const outcome = await crowdAt(ctx, async (i) => {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('UPDATE account SET balance = balance + 1 WHERE id = $1', [i])
        // The audit helper takes its own connection from the pool: the nested acquire.
        await pool.query('INSERT INTO audit (account) VALUES ($1)', [i])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    })
    return outcome
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx, { pool: { max: POOL, acquireTimeoutMs: POOL_TIMEOUT_MS } })
    const outcome = await crowdAt(ctx, (i) =>
      db.transaction(async (tx) => {
        await tx.query(sql`UPDATE account SET balance = balance + 1 WHERE id = ${i}`)
        // The same audit helper: inside the transaction it runs on the held connection.
        await db.query(sql`INSERT INTO audit (account) VALUES (${i})`)
      }),
    )
    const s = db.stats()
    ctx.note(`acquire wait p50 ${s.acquireWaitMs.p50.toFixed(1)} ms, p99 ${s.acquireWaitMs.p99.toFixed(1)} ms, max ${s.acquireWaitMs.max.toFixed(1)} ms`)
    return outcome
  },

  async check(ctx, o) {
    const out: string[] = []
    ctx.note(
      `${o.users} users on a pool of ${POOL} (timeout ${POOL_TIMEOUT_MS / 1000} s): peak ${o.peakServerConnections} server connections, slowest request ${Math.round(o.slowest)} ms`,
    )
    if (o.peakServerConnections > POOL) out.push(`the server saw ${o.peakServerConnections} connections for a pool of ${POOL}`)
    if (o.hung > 0) out.push(`${o.hung} of ${o.users} request(s) hung until the ${POOL_TIMEOUT_MS / 1000} s pool timeout (slowest ${Math.round(o.slowest)} ms)`)
    if (o.failed > 0) out.push(`${o.failed} of ${o.users} request(s) failed`)
    return out
  },
})
