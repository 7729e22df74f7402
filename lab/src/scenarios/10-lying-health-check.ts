/**
 * Incident 003: a health check that never touches the database reports "ok" while the database
 * is down, so the orchestrator keeps sending traffic to a dead instance.
 */
import { performance } from 'node:perf_hooks'
import { naivePool, sleep } from '../naive-pool.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

interface Probe {
  databaseUp: boolean
  reported: string
}

async function probeThroughOutage(ctx: ScenarioContext, health: () => Promise<string>): Promise<Probe[]> {
  const server = ctx.server
  if (!server) throw new Error('this scenario needs a private server')
  const probes: Probe[] = []
  const probe = async (databaseUp: boolean): Promise<void> => {
    const r = await ctx.recorder.op(health)
    probes.push({ databaseUp, reported: r.ok ? r.value : 'error' })
  }
  await probe(true)
  await server.stop()
  for (let i = 0; i < 3; i++) await probe(false)
  await server.start()
  // Back up: the check must say so again within a few seconds.
  const until = performance.now() + 5_000
  let reported = ''
  while (performance.now() < until) {
    const r = await ctx.recorder.op(health)
    reported = r.ok ? r.value : 'error'
    if (reported === 'ok') break
    await sleep(100)
  }
  probes.push({ databaseUp: true, reported })
  return probes
}

export default defineScenario<Probe[]>({
  id: 10,
  name: 'a health check that lies',
  incident: '003_e2fa8a9a0014bbd7.txt',
  failure: "health says 'ok' without touching the database",
  needsPrivateServer: true,

  async naive(ctx) {
    // The incident's endpoint: the pool exists, so it must be fine.
    const pool = naivePool(ctx)
    void pool
    return probeThroughOutage(ctx, async () => 'ok')
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    return probeThroughOutage(ctx, async () => (await db.health({ timeoutMs: 500 })).status)
  },

  async check(_ctx, probes) {
    const out: string[] = []
    const lies = probes.filter((p) => !p.databaseUp && p.reported === 'ok').length
    if (lies > 0) out.push(`${lies} probe(s) said 'ok' while the database was down`)
    const last = probes[probes.length - 1]
    if (last && last.reported !== 'ok') out.push(`still '${last.reported}' 5 s after the database came back`)
    return out
  },
})
