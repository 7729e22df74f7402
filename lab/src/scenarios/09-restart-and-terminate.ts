/**
 * Incidents 003/004: the server restarts, or an operator terminates backends, while requests
 * flow. A naive pool emits 'error' for idle clients that died; without a listener that is a
 * crash. What matters: no crash, and service back soon after the server is.
 */
import { performance } from 'node:perf_hooks'
import { sql } from 'pgsteward'
import { naivePool, sleep, virtualUsers } from '../naive-pool.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

interface Timeline {
  terminatedAt: number
  stoppedAt: number
  startedAt: number
  successes: number[]
}

const RECOVERY_BOUND_MS = 5_000

/** Users loop over one statement while the faults are injected on a schedule. */
async function underFaults(ctx: ScenarioContext, statement: () => Promise<unknown>): Promise<Timeline> {
  const server = ctx.server
  if (!server) throw new Error('this scenario needs a private server')
  const duration = ctx.quick ? 4_000 : 10_000
  const t0 = performance.now()
  const timeline: Timeline = { terminatedAt: 0, stoppedAt: 0, startedAt: 0, successes: [] }
  const faults = (async () => {
    await sleep(duration * 0.25)
    timeline.terminatedAt = performance.now() - t0
    await ctx.admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [ctx.applicationName])
    await sleep(duration * 0.25)
    timeline.stoppedAt = performance.now() - t0
    await server.stop()
    await sleep(1_000)
    await server.start()
    timeline.startedAt = performance.now() - t0
  })()
  await virtualUsers(Math.min(ctx.users, 50), async () => {
    while (performance.now() - t0 < duration) {
      const r = await ctx.recorder.op(statement)
      if (r.ok) timeline.successes.push(performance.now() - t0)
      else await sleep(20)
    }
  })
  await faults
  return timeline
}

export default defineScenario<Timeline>({
  id: 9,
  name: 'server restart and terminate mid-load',
  incident: '003_e2fa8a9a0014bbd7.txt',
  failure: 'dead idle connections crash the process or keep failing requests after the server is back',
  needsPrivateServer: true,

  async naive(ctx) {
    const pool = naivePool(ctx)
    return underFaults(ctx, () => pool.query('SELECT 1'))
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    return underFaults(ctx, () => db.query(sql`SELECT 1`))
  },

  async check(ctx, t) {
    const out: string[] = []
    const firstAfter = t.successes.find((s) => s > t.startedAt)
    if (firstAfter === undefined) out.push('no request succeeded after the server came back')
    else {
      const recovery = Math.round(firstAfter - t.startedAt)
      ctx.note(`service back ${recovery} ms after the server restarted`)
      if (recovery > RECOVERY_BOUND_MS) out.push(`recovery took ${recovery} ms (bound ${RECOVERY_BOUND_MS} ms)`)
    }
    const afterTerminate = t.successes.filter((s) => s > t.terminatedAt && s < t.stoppedAt).length
    ctx.note(`${afterTerminate} successful requests between the terminate and the restart`)
    if (afterTerminate === 0) out.push('nothing succeeded after pg_terminate_backend, though the server was up')
    return out
  },
})
