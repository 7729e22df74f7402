/**
 * Incident 004 and 003: far more concurrent requests than connections. What matters is whether
 * every request settles within a bound, fairly, without the server seeing more than the pool.
 */
import { performance } from 'node:perf_hooks'
import { sql } from 'pgsteward'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

const POOL = 10
/** A request waiting longer than this has, for its user, hung. */
const WAIT_BOUND_MS = 10_000

function crowd(ctx: ScenarioContext): number {
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

interface CrowdOutcome {
  peakServerConnections: number
  slowest: number
  users: number
  failed: number
}

/** The whole crowd sends one statement at once while the server's connection count is watched. */
async function crowdAt(ctx: ScenarioContext, statement: () => Promise<unknown>): Promise<CrowdOutcome> {
  const stop = await watchServer(ctx)
  let slowest = 0
  let failed = 0
  const users = crowd(ctx)
  await virtualUsers(users, async () => {
    const started = performance.now()
    const r = await ctx.recorder.op(statement)
    if (!r.ok) failed++
    slowest = Math.max(slowest, performance.now() - started)
  })
  return { peakServerConnections: await stop(), slowest, users, failed }
}

export default defineScenario<CrowdOutcome>({
  id: 8,
  name: 'pool exhaustion at 1000 users',
  incident: '004_e1a87ec9d4337d1f.txt',
  failure: 'a pool far smaller than the crowd: unbounded waits, unfair service',

  async naive(ctx) {
    const pool = naivePool(ctx, { max: POOL })
    return crowdAt(ctx, () => pool.query('SELECT pg_sleep(0.005)'))
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx, { pool: { max: POOL, acquireTimeoutMs: WAIT_BOUND_MS } })
    const outcome = await crowdAt(ctx, () => db.query(sql`SELECT pg_sleep(0.005)`))
    const s = db.stats()
    ctx.note(`acquire wait p50 ${s.acquireWaitMs.p50.toFixed(1)} ms, p99 ${s.acquireWaitMs.p99.toFixed(1)} ms, max ${s.acquireWaitMs.max.toFixed(1)} ms`)
    return outcome
  },

  async check(ctx, o) {
    const out: string[] = []
    ctx.note(`${o.users} users, peak ${o.peakServerConnections} server connections, slowest request ${Math.round(o.slowest)} ms`)
    if (o.peakServerConnections > POOL) out.push(`the server saw ${o.peakServerConnections} connections for a pool of ${POOL}`)
    if (o.slowest > WAIT_BOUND_MS) out.push(`a request took ${Math.round(o.slowest)} ms, beyond the ${WAIT_BOUND_MS} ms bound`)
    if (o.failed > 0) out.push(`${o.failed} request(s) failed`)
    return out
  },
})
