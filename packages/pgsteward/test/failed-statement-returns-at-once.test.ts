/**
 * Regression (issue 13, defects 1 and 2): a failed one-shot statement held its connection for
 * cancelGraceMs before the caller heard of it, and one whose backend was killed held its slot
 * just as long. A failure is over at its ReadyForQuery; a lost socket is noticed when it closes.
 * Each test sets a grace period far beyond its own patience, so only the right behaviour passes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AdminShutdownError, ConnectionLostError, DatabaseError, sql } from 'pgsteward'
import { eventually, setup } from './support.ts'

const ctx = await setup('failed_statement')

describe('a failed statement returns its connection at once', () => {
  it('the connection is back in the pool before the caller hears of the failure', async () => {
    const db = ctx.open({ pool: { max: 2 }, cancelGraceMs: 60_000 })
    await db.ready()
    for (let i = 0; i < 6; i++) {
      const err = await db.query(sql`SELECT 1/0`).catch((e: unknown) => e)
      assert.ok(err instanceof DatabaseError && err.sqlState === '22012', String(err))
      const stats = db.stats()
      assert.equal(stats.inUse, 0, `after failure ${i + 1} nothing is in use`)
      assert.equal(stats.total, 1, 'and the same connection is reused: a failed statement does not break it')
    }
    assert.equal(db.stats().counters.destroyed.unclean + db.stats().counters.destroyed.broken, 0)
  })

  it('six concurrent failures on a pool of two leave both connections free and healthy', async () => {
    const db = ctx.open({ pool: { max: 2 }, cancelGraceMs: 60_000 })
    // The first connection's start-up check done, so nothing of the pool's own is in use.
    await db.ready()
    const errors = await Promise.all(Array.from({ length: 6 }, () => db.query(sql`SELECT 1/0`).catch((e: unknown) => e)))
    assert.ok(errors.every((e) => e instanceof DatabaseError && e.sqlState === '22012'))
    assert.equal(db.stats().inUse, 0)
    assert.deepEqual(await db.one(sql`SELECT ${7}::int AS n`), { n: 7 })
  })

  it('inside a session, a failed statement leaves the next one free to run at once', async () => {
    const db = ctx.open({ pool: { max: 1 }, cancelGraceMs: 60_000 })
    const n = await db.session(async (s) => {
      await s.query(sql`SELECT 1/0`).catch(() => undefined)
      return (await s.one<{ n: number }>(sql`SELECT 3 AS n`)).n
    })
    assert.equal(n, 3)
  })
})

describe('a killed backend is dropped at once', () => {
  it('a one-shot statement whose backend is terminated fails with the connection error, its slot already freed', async () => {
    const db = ctx.open({ pool: { max: 1 }, cancelGraceMs: 60_000 })
    const running = db.query(sql`SELECT pg_sleep(30)`).then(
      () => 'finished',
      (e: unknown) => ({ err: e, stats: db.stats() }),
    )
    await eventually(async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active'), 5_000, 'statement running')
    await ctx.admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [db.applicationName])
    const outcome = await running
    assert.notEqual(outcome, 'finished')
    const { err, stats } = outcome as { err: unknown; stats: ReturnType<typeof db.stats> }
    assert.ok(err instanceof AdminShutdownError || err instanceof ConnectionLostError, String(err))
    assert.equal(stats.total, 0, 'the dead connection was gone from the pool before the caller heard')
    assert.equal(stats.counters.destroyed.broken, 1)
    assert.deepEqual(await db.one(sql`SELECT ${1}::int AS n`), { n: 1 }, 'a new connection serves the next caller')
  })

  it('idle connections killed by the server are replaced unseen once the first loss is noticed: the next statements succeed', async () => {
    const db = ctx.open({ pool: { max: 3, min: 3 }, cancelGraceMs: 60_000 })
    await eventually(() => db.stats().idle === 3, 10_000, 'three idle connections')
    await ctx.admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [db.applicationName])
    // Work that starts after the pool has seen one connection die: the others are checked before they are lent.
    await eventually(() => db.stats().counters.destroyed.broken >= 1, 10_000, 'a lost connection noticed')
    const rows = await Promise.all(Array.from({ length: 6 }, (_, i) => db.one<{ n: number }>(sql`SELECT ${i}::int AS n`)))
    assert.deepEqual(
      rows.map((r) => r.n),
      [0, 1, 2, 3, 4, 5],
    )
  })
})
