import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ParameterError, sql } from 'pgsteward'
import { eventually, setup } from './support.ts'

const ctx = await setup('clean_return')
await ctx.admin('CREATE TABLE t (id int PRIMARY KEY)')

describe('returning connections to the pool', () => {
  it('rolls back a connection returned inside a transaction: the next borrower sees no open transaction', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.query(sql.unsafe('BEGIN; INSERT INTO t VALUES (1)'))
    const state = await db.one<{ open: boolean }>(sql`SELECT now() <> statement_timestamp() AS open`)
    assert.equal(state.open, false, 'next borrower is outside any transaction')
    assert.equal((await ctx.admin<{ n: string }>('SELECT count(*) AS n FROM t'))[0]?.n, '0', 'the abandoned insert was rolled back')
    const [activity] = await ctx.activity(db.applicationName)
    assert.equal(activity?.state, 'idle')
    assert.equal(db.stats().counters.resets, 1)
  })

  it('resets session state (settings, temp tables, session advisory locks, LISTEN) before the next borrower', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pid = (await db.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)).pid
    await db.query(sql`SET statement_timeout = '1234ms'`)
    await db.query(sql`CREATE TEMP TABLE scratch (x int)`)
    await db.query(sql`SELECT pg_advisory_lock(4242)`)
    await db.query(sql`LISTEN some_channel`)
    const after = await db.one<{ pid: number; timeout: string; scratch: string | null; listening: number }>(
      sql`SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS timeout,
                 to_regclass('pg_temp.scratch')::text AS scratch,
                 (SELECT count(*)::int FROM pg_listening_channels()) AS listening`,
    )
    assert.equal(after.pid, pid, 'same connection, reset rather than replaced')
    assert.equal(after.timeout, '0')
    assert.equal(after.scratch, null)
    assert.equal(after.listening, 0)
    const locks = await ctx.admin(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = $1`, [pid])
    assert.equal(locks.length, 0)
  })

  it('resets a session changed inside a DO block, whose text says nothing about it', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.query(sql.unsafe(`DO $$ BEGIN EXECUTE 'SET statement_timeout = ' || 4321; END $$`))
    const after = await db.one<{ timeout: string }>(sql`SELECT current_setting('statement_timeout') AS timeout`)
    assert.equal(after.timeout, '0', 'the next borrower gets the server default')
    assert.equal(db.stats().counters.resets, 1)
  })

  it('costs no round trip for a clean return', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    for (let i = 0; i < 100; i++) await db.query(sql`SELECT ${i}::int`)
    await db.transaction(async (tx) => {
      await tx.query(sql`SET LOCAL statement_timeout = '5s'`)
      await tx.query(sql`INSERT INTO t VALUES (100) ON CONFLICT DO NOTHING`)
    })
    assert.equal(db.stats().counters.resets, 0)
    const calls = await ctx.admin<{ calls: string }>(`SELECT count(*) AS calls FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'DISCARD%'`, [
      db.applicationName,
    ])
    assert.equal(calls[0]?.calls, '0')
  })

  it('cancels a query still running when its session ends, and lends the connection again clean', async () => {
    const db = ctx.open({ pool: { max: 1 }, cancelGraceMs: 2_000 })
    let abandoned: Promise<unknown> | undefined
    await db.session(async (s) => {
      abandoned = s.query(sql`SELECT pg_sleep(30)`).catch((e: unknown) => e)
      await new Promise((r) => setTimeout(r, 50))
    })
    assert.equal((await db.one<{ n: number }>(sql`SELECT 5 AS n`)).n, 5)
    const err = await abandoned
    assert.match(String(err), /cancel/i)
    // Cancelled and cleaned, so the one connection was lent again; a statement left running would have had it destroyed.
    assert.equal(db.stats().counters.destroyed.unclean, 0)
    assert.equal(db.stats().counters.created, 1)
    await eventually(async () => (await ctx.activity(db.applicationName)).every((a) => a.state === 'idle'), 2_000, 'no active query left on the server')
  })

  it('a statement that fails before reaching the server (a value that cannot be serialised) rejects at once; the pool stays usable', async () => {
    const db = ctx.open({ pool: { max: 1 }, cancelGraceMs: 3_000 })
    const unserialisable = {
      toPostgres(): never {
        throw new Error('no wire form')
      },
    }
    await assert.rejects(db.query(sql`SELECT ${unserialisable}::int AS n`), (err: unknown) => err instanceof ParameterError && err.position === 1)
    // It failed before borrowing a connection: nothing reached the server, nothing to wait for.
    assert.equal(db.stats().counters.acquired, 0)
    assert.deepEqual(await db.one(sql`SELECT ${5}::int AS n`), { n: 5 })
  })

  it('a callback that is not async gets its value back or its throw, and gives the connection back, with or without a timeout', async () => {
    const db = ctx.open({ pool: { max: 1, acquireTimeoutMs: 5_000 } })
    // Plain JavaScript may pass any function: the types ask for a promise, the pool must not depend on it.
    const notAsync = <T>(value: T): (() => Promise<T>) => (() => value) as unknown as () => Promise<T>
    const throwsAtOnce = (() => {
      throw new Error('thrown before any await')
    }) as unknown as () => Promise<never>
    for (const options of [undefined, { timeoutMs: 5_000 }]) {
      assert.equal(await db.session(notAsync(5), options), 5)
      assert.equal(await db.transaction(notAsync(6), options), 6)
      await assert.rejects(db.session(throwsAtOnce, options), /thrown before any await/)
      await assert.rejects(db.transaction(throwsAtOnce, options), /thrown before any await/)
    }
    // Joined to an open session: still a promise, still the value or the rejection.
    await db.session(async () => {
      const joined = db.session(notAsync(8))
      assert.ok(joined instanceof Promise)
      assert.equal(await joined, 8)
      await assert.rejects(db.session(throwsAtOnce), /thrown before any await/)
    })
    assert.equal(db.stats().inUse, 0, 'every connection came back')
    assert.deepEqual(await db.one(sql`SELECT ${7}::int AS n`), { n: 7 })
    const [activity] = await ctx.activity(db.applicationName)
    assert.equal(activity?.state, 'idle')
  })
})
