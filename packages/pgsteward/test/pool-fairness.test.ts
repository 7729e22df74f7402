import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { describe, it } from 'node:test'
import { sql } from 'pgsteward'
import { setup, sleep } from './support.ts'

const ctx = await setup('fairness')

describe('pool fairness and bounds', () => {
  it('serves 200 concurrent acquirers in arrival order and never opens more than max connections', async () => {
    const db = ctx.open({ pool: { max: 5 } })
    await db.ready()
    let peak = 0
    const served: number[] = []
    // Watch the server's own count while the load runs.
    let watching = true
    const watcher = (async () => {
      while (watching) {
        peak = Math.max(peak, (await ctx.activity(db.applicationName)).length)
        await sleep(5)
      }
    })()
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        db.session(async (s) => {
          served.push(i)
          await s.query(sql`SELECT pg_sleep(0.002)`)
        }),
      ),
    )
    watching = false
    await watcher
    assert.deepEqual(
      served,
      Array.from({ length: 200 }, (_, i) => i),
      'served in arrival order',
    )
    assert.ok(peak <= 5, `server saw ${peak} connections`)
    assert.ok(peak >= 2, `the load did use the pool (peak ${peak})`)
    const stats = db.stats()
    assert.ok(stats.total <= 5)
    assert.equal(stats.counters.acquired, 201)
    assert.equal(stats.waiting, 0)
  })

  it("runs a queued session's or transaction's callback in its caller's async context, not the releaser's", async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const request = new AsyncLocalStorage<string>()
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let holding!: () => void
    const holds = new Promise<void>((resolve) => (holding = resolve))
    const holder = request.run('holder', () =>
      db.session(async () => {
        holding()
        await held
      }),
    )
    await holds
    // Every one of these has to wait for the holder's connection: each is granted inside the
    // pool's handling of another caller's release, and must still see its own store.
    const seen = await Promise.all([
      ...[1, 2, 3].map((i) => request.run(`session ${i}`, () => db.session(async () => request.getStore()))),
      ...[4, 5].map((i) =>
        request.run(`transaction ${i}`, () =>
          db.transaction(async (tx) => (await tx.one<{ n: number }>(sql`SELECT ${i}::int AS n`)).n === i && request.getStore()),
        ),
      ),
      (() => {
        release()
        return holder.then(() => 'released')
      })(),
    ])
    assert.deepEqual(seen, ['session 1', 'session 2', 'session 3', 'transaction 4', 'transaction 5', 'released'])
    assert.equal(db.stats().waiting, 0)
  })

  it('reuses the most recently returned idle connection first', async () => {
    const db = ctx.open({ pool: { max: 3 } })
    // Three sessions held together: three connections.
    let arrived = 0
    let allIn!: () => void
    const together = new Promise<void>((r) => (allIn = r))
    const pids = await Promise.all(
      [1, 2, 3].map(() =>
        db.session(async (s) => {
          const { pid } = await s.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)
          if (++arrived === 3) allIn()
          await together
          return pid
        }),
      ),
    )
    assert.equal(new Set(pids).size, 3)
    // The last to come back is on top of the stack.
    const next = await db.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)
    const again = await db.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)
    assert.equal(next.pid, again.pid)
  })
})
