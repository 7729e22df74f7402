/**
 * Incident 004: an invalid pool configuration is accepted at start and discovered by the first
 * request (then by every request). Configuration must be checked before serving.
 */
import pg from 'pg'
import { createDatabase } from 'pgsteward'
import { defineScenario } from '../scenario.ts'

interface StartReport {
  refusedAtStart: boolean
  servedWithBrokenConfig: boolean
  message: string
}

/** The same mistakes for both: a pool size from an unparsed env var, a negative idle timeout, a wrong database name. */
function badSettings(url: string): { connectionString: string; max: number; idle: number } {
  const wrong = new URL(url)
  wrong.pathname = '/no_such_database'
  return { connectionString: wrong.toString(), max: Number('ten'), idle: -1 }
}

export default defineScenario<StartReport>({
  id: 12,
  name: 'misconfiguration discovered late',
  incident: '004_e1a87ec9d4337d1f.txt',
  failure: 'a bad pool configuration starts fine and fails on the first request',

  async naive(ctx) {
    const bad = badSettings(ctx.databaseUrl)
    const start = await ctx.recorder.op(
      async () => new pg.Pool({ connectionString: bad.connectionString, max: bad.max, idleTimeoutMillis: bad.idle, application_name: ctx.applicationName }),
    )
    if (!start.ok) return { refusedAtStart: true, servedWithBrokenConfig: false, message: String(start.error) }
    const pool = start.value
    ctx.onCleanup(() => pool.end())
    const first = await ctx.recorder.op(() => pool.query('SELECT 1'))
    return {
      refusedAtStart: false,
      servedWithBrokenConfig: true,
      message: first.ok ? 'first request succeeded' : `first request failed: ${String(first.error)}`,
    }
  },

  async pgsteward(ctx) {
    const bad = badSettings(ctx.databaseUrl)
    // Start-up: validate options, then connect once (db.ready) before accepting traffic.
    const invalid = await ctx.recorder.op(async () =>
      createDatabase({ connectionString: bad.connectionString, applicationName: ctx.applicationName, pool: { max: bad.max, idleTimeoutMs: bad.idle } }),
    )
    const wrongDatabase = await ctx.recorder.op(async () => {
      const db = createDatabase({ connectionString: bad.connectionString, applicationName: ctx.applicationName })
      ctx.onCleanup(() => db.close())
      await db.ready()
    })
    const refused = !invalid.ok && !wrongDatabase.ok
    const message = [invalid, wrongDatabase].map((r) => (r.ok ? 'accepted' : (r.error as Error).message.split('\n').slice(0, 3).join(' '))).join(' | ')
    return { refusedAtStart: refused, servedWithBrokenConfig: !refused, message }
  },

  async check(ctx, report) {
    ctx.note(report.message.slice(0, 240))
    return report.servedWithBrokenConfig ? ['the broken configuration was accepted at start; the first request found it'] : []
  },
})
