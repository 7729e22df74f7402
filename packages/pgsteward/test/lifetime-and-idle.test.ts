import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sql } from 'pgsteward'
import { eventually, setup, sleep } from './support.ts'

const ctx = await setup('lifetime')

describe('connection lifetime and idle timeout', () => {
  it('retires connections at max lifetime, spread by jitter, never while lent', async () => {
    const db = ctx.open({ pool: { max: 8, min: 8, maxLifetimeMs: 1_000, maxLifetimeJitter: 0.5, idleTimeoutMs: 0 } })
    const retired: { id: number; at: number }[] = []
    db.on('destroy', ({ connectionId, reason }) => {
      if (reason === 'lifetime') retired.push({ id: connectionId, at: Date.now() })
    })
    await eventually(() => db.stats().idle === 8, 3_000, 'min filled')
    const heldIds: number[] = []
    db.on('acquire', ({ connectionId }) => heldIds.push(connectionId))
    // Hold one connection past its lifetime and watch it stay the same backend.
    const pids = await db.session(async (s) => {
      const seen = new Set<number>()
      for (let i = 0; i < 15; i++) {
        seen.add((await s.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)).pid)
        await sleep(100)
      }
      return seen
    })
    const held = heldIds[0]
    assert.equal(pids.size, 1, 'a lent connection is never swapped under its holder')
    const retiredEarly = retired.filter((r) => r.id !== held)
    assert.ok(retiredEarly.length >= 7, `the 7 idle connections retired (${retiredEarly.length})`)
    const times = retiredEarly.slice(0, 7).map((r) => r.at)
    assert.ok(Math.max(...times) - Math.min(...times) >= 100, `retirements spread over time: ${Math.max(...times) - Math.min(...times)} ms`)
    // The held one is retired when it comes back, since it is past its lifetime.
    await eventually(() => retired.some((r) => r.id === held), 1_000, 'held connection retired after return')
    await eventually(() => db.stats().total === 8, 3_000, 'min refilled after retirements')
  })

  it('shrinks to min after the idle timeout and refills min after connections die', async () => {
    const db = ctx.open({ pool: { max: 6, min: 2, idleTimeoutMs: 300, maxLifetimeMs: 0 } })
    await Promise.all(Array.from({ length: 6 }, () => db.query(sql`SELECT pg_sleep(0.05)`)))
    assert.equal(db.stats().total, 6)
    await eventually(() => db.stats().total === 2, 3_000, 'shrunk to min')
    assert.equal((await ctx.activity(db.applicationName)).length, 2)
    assert.equal(db.stats().counters.destroyed.idle, 4)
    const old = (await ctx.activity(db.applicationName)).map((a) => a.pid)
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [db.applicationName])
    await eventually(
      async () => {
        const now = (await ctx.activity(db.applicationName)).map((a) => a.pid)
        return now.length === 2 && now.every((p) => !old.includes(p))
      },
      3_000,
      'min refilled with new backends',
    )
    assert.equal(db.stats().total, 2)
  })
})
