import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AdminShutdownError, ConnectionLostError, sql } from 'pgsteward'
import { collectUnhandledRejections, eventually, setup, warm } from './support.ts'

const ctx = await setup('terminate')
const unhandled = collectUnhandledRejections()

describe('server-side termination', () => {
  it('replaces idle connections killed by pg_terminate_backend without the caller seeing an error', async () => {
    const db = ctx.open({ pool: { max: 4, validateAfterIdleMs: 60_000 } })
    // Four at once open four connections; the last may still be opening when the four statements are done (two can share one).
    await Promise.all([1, 2, 3, 4].map(() => db.query(sql`SELECT pg_sleep(0.02)`)))
    await warm(db)
    const before = (await ctx.activity(db.applicationName)).map((a) => a.pid)
    assert.equal(before.length, 4)
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [db.applicationName])
    // The pool hears about each death (57P01 on the idle socket) and drops the connection.
    await eventually(() => db.stats().counters.destroyed.broken === 4, 2_000, 'idle connections removed')
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => db.one<{ n: number }>(sql`SELECT ${i}::int AS n`)))
    assert.deepEqual(
      results.map((r) => r.n),
      Array.from({ length: 20 }, (_, i) => i),
    )
    const afterPids = (await ctx.activity(db.applicationName)).map((a) => a.pid)
    assert.equal(afterPids.filter((p) => before.includes(p)).length, 0, 'only new backends')
    assert.deepEqual(unhandled, [])
  })

  it('gives the holder of a connection killed mid-query a connection-lost error and recovers', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    const running = db
      .session(async (s) => {
        await s.query(sql`SELECT pg_sleep(30)`)
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    await eventually(
      async () => (await ctx.activity(db.applicationName)).some((a) => a.query.includes('pg_sleep(30)') && a.state === 'active'),
      3_000,
      'query running',
    )
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%pg_sleep(30)%'`, [db.applicationName])
    const err = await running
    assert.ok(err instanceof AdminShutdownError || err instanceof ConnectionLostError, `got ${String(err)}`)
    assert.ok(['57P01', '08006'].includes(err.sqlState))
    assert.equal((await db.one<{ n: number }>(sql`SELECT 7 AS n`)).n, 7)
    await eventually(() => db.stats().counters.destroyed.broken === 1, 2_000, 'broken connection destroyed on return')
    assert.deepEqual(unhandled, [])
  })

  it('a session whose backend is killed mid-statement hears of it at once, and the pool carries on without it', async () => {
    // A grace far beyond the test's patience: only noticing the closed socket can answer in time.
    const db = ctx.open({ pool: { max: 1 }, cancelGraceMs: 60_000 })
    let settledAt = 0
    const running = db
      .session((s) => s.query(sql`SELECT pg_sleep(30)`))
      .catch((e: unknown) => {
        settledAt = performance.now()
        return e
      })
    await eventually(async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active'), 3_000, 'query running')
    const killedAt = performance.now()
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [db.applicationName])
    const err = await running
    assert.ok(err instanceof AdminShutdownError || err instanceof ConnectionLostError, `got ${String(err)}`)
    assert.ok(settledAt - killedAt < 30_000, 'long before the statement or the grace period could have ended')
    assert.deepEqual(await db.one(sql`SELECT ${1}::int AS n`), { n: 1 })
    assert.equal(db.stats().counters.destroyed.broken, 1)
  })
})
