import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConcurrentUseError, PoolDeadlockError, SessionClosedError, sql, type Database, type Transaction } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('ownership')
await ctx.admin('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL)')
await ctx.admin('CREATE SEQUENCE call_order')

/**
 * Open a transaction that waits, and use its object from this test body, which is not inside the
 * transaction's callback: it plays "another request". `release` lets the transaction finish.
 */
async function smuggleTransaction(db: Database): Promise<{ smuggled: Transaction; err: unknown; release: () => Promise<void> }> {
  let smuggled: Transaction | undefined
  let letGo!: () => void
  const open = db.transaction(async (tx) => {
    smuggled = tx
    await new Promise<void>((r) => (letGo = r))
  })
  while (smuggled === undefined) await new Promise((r) => setTimeout(r, 5))
  const err = await smuggled.query(sql`SELECT 1`).then(
    () => undefined,
    (e: unknown) => e,
  )
  return {
    smuggled,
    err,
    release: async () => {
      letGo()
      await open
    },
  }
}

describe('session ownership', () => {
  it('refuses a transaction smuggled into another async scope, naming both call sites', async () => {
    const db = ctx.open({ pool: { max: 3 }, callSites: 'always' })
    const { smuggled, err, release } = await smuggleTransaction(db)
    assert.ok(err instanceof ConcurrentUseError, `got ${String(err)}`)
    assert.equal(err.code, 'SESSION_CONCURRENT_USE')
    assert.match(err.message, /Opened at:\n\s+at .*ownership\.test\.ts:\d+/)
    assert.match(err.message, /Used at:\n\s+at .*ownership\.test\.ts:\d+/)
    assert.notEqual(err.openedAt, err.usedAt)
    await release()
    await assert.rejects(smuggled.query(sql`SELECT 1`), (e: unknown) => e instanceof SessionClosedError && /used after its callback settled/.test(e.message))
  })

  it('records call sites only after the first ownership error by default, and says so in the error that lacks one', async () => {
    const db = ctx.open({ pool: { max: 3 } })
    assert.equal(db.options.callSites, 'after-first-error')
    const first = await smuggleTransaction(db)
    assert.ok(first.err instanceof ConcurrentUseError, `got ${String(first.err)}`)
    assert.equal(first.err.openedAt, undefined)
    assert.doesNotMatch(first.err.message, /Opened at:/)
    assert.match(first.err.message, /was not recorded.*callSites: 'always'/s)
    assert.match(first.err.message, /Used at:\n\s+at .*ownership\.test\.ts:\d+/, 'the misuse itself is always located')
    await first.release()

    const second = await smuggleTransaction(db)
    assert.ok(second.err instanceof ConcurrentUseError, `got ${String(second.err)}`)
    assert.match(second.err.message, /Opened at:\n\s+at .*ownership\.test\.ts:\d+/, 'recorded once an ownership error was seen')
    assert.doesNotMatch(second.err.message, /not recorded/)
    await second.release()
  })

  it('runs 50 concurrent queries of one transaction on one backend, in one transaction, in call order', async () => {
    const db = ctx.open({ pool: { max: 5 } })
    const rows = await db.transaction(async (tx) =>
      Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          // Half through the transaction object, half through db: both join the scope.
          (i % 2 === 0 ? tx : db).one<{ pid: number; txid: string; n: string; i: number }>(
            sql`SELECT pg_backend_pid() AS pid, txid_current()::text AS txid, nextval('call_order')::text AS n, ${i}::int AS i`,
          ),
        ),
      ),
    )
    assert.equal(new Set(rows.map((r) => r.pid)).size, 1, 'one backend')
    assert.equal(new Set(rows.map((r) => r.txid)).size, 1, 'one transaction')
    const order = rows.map((r) => Number(r.n))
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      'executed in call order',
    )
    assert.equal(db.stats().counters.acquired, 1, 'no second connection')
  })

  it('db.query inside a transaction joins it, so a rollback undoes it', async () => {
    const db = ctx.open({ pool: { max: 5 } })
    await assert.rejects(
      db.transaction(async () => {
        await db.query(sql`INSERT INTO items (label) VALUES ('joined')`)
        throw new Error('changed my mind')
      }),
      /changed my mind/,
    )
    assert.equal((await ctx.admin(`SELECT 1 FROM items WHERE label = 'joined'`)).length, 0)
  })

  it('fails at once with PoolDeadlockError when every connection is held by scopes waiting for another; the others then proceed', async () => {
    const db = ctx.open({ pool: { max: 2, acquireTimeoutMs: 30_000 }, callSites: 'always' })
    let arrived = 0
    let bothHold!: () => void
    const barrier = new Promise<void>((r) => (bothHold = r))
    const nested = async (): Promise<unknown> => {
      return db.session(async (s) => {
        await s.query(sql`SELECT 1`)
        if (++arrived === 2) bothHold()
        await barrier
        // Each session holds one of the two connections and asks for the other: neither can ever be returned.
        return db.transaction(async (tx) => (await tx.one<{ n: number }>(sql`SELECT 1 AS n`)).n, { independent: true }).catch((e: unknown) => e)
      })
    }
    const outcomes = await Promise.all([nested(), nested()])
    const deadlocks = outcomes.filter((o) => o instanceof PoolDeadlockError)
    assert.equal(deadlocks.length, 1, `one of the two fails fast, not at the 30 s deadline: ${outcomes.map(String).join(', ')}`)
    assert.match((deadlocks[0] as PoolDeadlockError).message, /already holds connection #\d+/)
    assert.match((deadlocks[0] as PoolDeadlockError).message, /ownership\.test\.ts/, 'names where the held connection was acquired')
    assert.ok(outcomes.includes(1), 'the other gets the connection the failed scope gave back')
  })

  it('a merely busy pool is no deadlock: independent work inside a scope waits for a connection like anyone else', async () => {
    const db = ctx.open({ pool: { max: 3 } })
    let stop = false
    // Other tasks keep the pool saturated with short statements: connections come back all the time.
    const background = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) await db.session((s) => s.query(sql`SELECT pg_sleep(0.005)`))
      }),
    )
    const results: number[] = []
    try {
      for (let i = 0; i < 10; i++) {
        results.push(await db.transaction(async () => db.transaction(async (tx) => (await tx.one<{ n: number }>(sql`SELECT 2 AS n`)).n, { independent: true })))
      }
    } finally {
      stop = true
      await background
    }
    assert.deepEqual(
      results,
      Array.from({ length: 10 }, () => 2),
    )
  })

  it('gives an independent transaction its own connection when one is free', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    await db.transaction(async (outer) => {
      await outer.query(sql`INSERT INTO items (label) VALUES ('outer')`)
      const innerPid = await db.transaction(async (inner) => (await inner.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)).pid, {
        independent: true,
      })
      const outerPid = (await outer.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)).pid
      assert.notEqual(innerPid, outerPid)
    })
  })
})
