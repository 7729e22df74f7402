import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PoolTimeoutError, sql } from 'pgsteward'
import { setup, warm } from './support.ts'

const ctx = await setup('timeout')

describe('acquire timeout', () => {
  it('fails with PoolTimeoutError saying how long it waited, the pool state and who holds the connections', async () => {
    const db = ctx.open({ pool: { max: 2, min: 2, acquireTimeoutMs: 150, leakDetectionMs: 5_000 } })
    await warm(db)
    let releaseHolders!: () => void
    const hold = new Promise<void>((resolve) => (releaseHolders = resolve))
    let holding = 0
    const holders = [1, 2].map(() =>
      db.session(async (s) => {
        holding++
        await s.query(sql`SELECT 1`)
        await hold
      }),
    )
    while (holding < 2) await new Promise((r) => setTimeout(r, 5))
    const started = Date.now()
    const err = await db.query(sql`SELECT 1`).then(
      () => assert.fail('expected a timeout'),
      (e: unknown) => e,
    )
    const elapsed = Date.now() - started
    assert.ok(err instanceof PoolTimeoutError, `got ${String(err)}`)
    assert.equal(err.code, 'POOL_TIMEOUT')
    assert.ok(err.waitedMs >= 140, `waited its full timeout (${err.waitedMs} ms)`)
    assert.ok(elapsed >= 140, `took ${elapsed}`)
    assert.deepEqual({ ...err.pool }, { total: 2, idle: 0, inUse: 2, waiting: 1, connecting: 0, max: 2 })
    assert.match(err.message, /Acquire timeout: waited \d+ ms for a connection \(pool: total 2\/2, idle 0, in use 2, waiting 1, connecting 0\)/)
    assert.match(err.message, /Every connection was in use/)
    assert.equal(err.holders.length, 2)
    assert.match(err.message, /pool-timeout\.test\.ts:\d+/, 'names the code holding the connections')
    assert.doesNotMatch(err.message, /database\.ts|node:internal/, 'shows the caller, not our internals')
    assert.equal(db.stats().counters.timeouts, 1)
    releaseHolders()
    await Promise.all(holders)
    // The pool is healthy again and the timed-out waiter left no trace in the queue.
    assert.equal((await db.one<{ n: number }>(sql`SELECT 1 AS n`)).n, 1)
    assert.equal(db.stats().waiting, 0)
  })

  it('without leak detection, a timeout starts recording call sites, so the next one names the holding transactions', async () => {
    const db = ctx.open({ pool: { max: 1, min: 1, acquireTimeoutMs: 100 } })
    await warm(db)
    const timeoutWhileHeld = async (): Promise<PoolTimeoutError> => {
      let letGo!: () => void
      let held!: () => void
      const holding = new Promise<void>((r) => (held = r))
      const holder = db.transaction(async (tx) => {
        await tx.query(sql`SELECT 1`)
        held()
        await new Promise<void>((r) => (letGo = r))
      })
      await holding
      const err = await db.query(sql`SELECT 1`).then(
        () => assert.fail('expected a timeout'),
        (e: unknown) => e,
      )
      letGo()
      await holder
      assert.ok(err instanceof PoolTimeoutError, `got ${String(err)}`)
      return err
    }
    const first = await timeoutWhileHeld()
    assert.equal(first.holders.length, 0, 'nothing was recorded before the first timeout')
    assert.match(first.message, /record where they were opened, and a timeout lists them \(option callSites\)/)
    const second = await timeoutWhileHeld()
    assert.equal(second.holders.length, 1)
    assert.match(second.message, /acquired at:\n\s+at .*pool-timeout\.test\.ts:\d+/, 'names the transaction opened after the first timeout')
  })

  it('a waiter aborted by its signal leaves the queue and the next waiter is served', async () => {
    const db = ctx.open({ pool: { max: 1, acquireTimeoutMs: 2_000 } })
    let release: (() => void) | undefined
    const held = db.session(() => new Promise<void>((r) => (release = r)))
    while (release === undefined) await new Promise((r) => setTimeout(r, 5))
    const controller = new AbortController()
    const aborted = db.session(async () => 'never', { signal: controller.signal })
    const next = db.session(async (s) => (await s.one<{ n: number }>(sql`SELECT 2 AS n`)).n)
    controller.abort(new Error('client went away'))
    await assert.rejects(aborted, { code: 'ABORTED', message: /client went away/ })
    release()
    await held
    assert.equal(await next, 2)
  })
})
