/**
 * Pipelining (issue 17): one-shot statements of different callers share a busy connection when
 * others wait, each its own implicit transaction; the statements of one scope issued together go
 * out without waiting for each other. Ownership and safety stay as they were: answers never go to
 * the wrong caller, one failure affects no other statement, an abort never touches another
 * caller's statement, nothing joins a connection with someone's session state or transaction,
 * and a broken connection fails each of its statements with the connection error.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AdminShutdownError, ConnectionLostError, DatabaseError, ScopeTimeoutError, sql } from 'pgsteward'
import { protocolTap } from './protocol-tap.ts'
import { eventually, setup } from './support.ts'

const ctx = await setup('pipelining')
await ctx.admin('CREATE TABLE entry (id int PRIMARY KEY)')
const tap = await protocolTap(ctx.url)

/** How many batches went out before the first answer came back. */
function batchesBeforeFirstAnswer(sequence: readonly string[]): number {
  const first = sequence.indexOf('ready')
  return (first < 0 ? sequence : sequence.slice(0, first)).filter((e) => e === 'sync').length
}

describe('pipelining', () => {
  it('two hundred one-shot statements on one connection: each caller gets its own answer', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.ready()
    const rows = await Promise.all(
      Array.from({ length: 200 }, (_, i) => db.one<{ n: number; label: string }>(sql`SELECT ${i}::int AS n, ${`caller ${i}`}::text AS label`)),
    )
    rows.forEach((row, i) => assert.deepEqual(row, { n: i, label: `caller ${i}` }))
    assert.ok(db.stats().counters.pipelined > 0, 'they shared the connection')
  })

  it('they really go out together: many batches before the first answer', async () => {
    const db = ctx.open({ pool: { max: 1 } }, tap.url)
    await db.ready()
    tap.reset()
    await Promise.all(Array.from({ length: 20 }, (_, i) => db.query(sql`SELECT ${i}::int`)))
    assert.ok(batchesBeforeFirstAnswer(tap.sequence) > 1, `sequence: ${tap.sequence.join(' ')}`)
  })

  it("the statements of one transaction issued together go out together, in order, and see each other's work", async () => {
    const db = ctx.open({ pool: { max: 1 } }, tap.url)
    await db.ready()
    tap.reset()
    const counts = await db.transaction(async (tx) => {
      const [, , count] = await Promise.all([
        tx.query(sql`INSERT INTO entry VALUES (${1001})`),
        tx.query(sql`INSERT INTO entry VALUES (${1002})`),
        tx.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM entry WHERE id > ${1000}`),
      ])
      return count.n
    })
    assert.equal(counts, 2, 'the SELECT ran after both INSERTs, in the same transaction')
    assert.ok(batchesBeforeFirstAnswer(tap.sequence) >= 3, `sequence: ${tap.sequence.join(' ')}`)
    await ctx.admin('DELETE FROM entry WHERE id > 1000')
  })

  it('one failing statement affects no other: each is its own implicit transaction', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.ready()
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 3 === 0
          ? db.query(sql`SELECT 1 / ${0}::int`).then(
              () => 'no error',
              (e: unknown) => (e instanceof DatabaseError ? e.sqlState : String(e)),
            )
          : db.one<{ n: number }>(sql`SELECT ${i}::int AS n`).then((r) => r.n),
      ),
    )
    outcomes.forEach((outcome, i) => assert.equal(outcome, i % 3 === 0 ? '22012' : i))
  })

  it("an abort never touches another caller's statement: a statement that can be aborted waits for a connection of its own", async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.ready()
    const other = db.one<{ n: number }>(sql`SELECT ${7}::int AS n, pg_sleep(0.5)`)
    await eventually(async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active'), 10_000, 'the other caller running')
    const aborted = await db.query(sql`SELECT pg_sleep(30)`, { timeoutMs: 100 }).catch((e: unknown) => e)
    assert.ok(aborted instanceof ScopeTimeoutError, `got ${String(aborted)}`)
    assert.deepEqual(await other, { n: 7, pg_sleep: '' }, 'the other caller was not cancelled')
  })

  it("no statement joins a connection holding someone's transaction: nobody sees its uncommitted rows", async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.ready()
    let inserted!: () => void
    const insertedNow = new Promise<void>((r) => (inserted = r))
    const rolledBack = db
      .transaction(async (tx) => {
        await tx.query(sql`INSERT INTO entry VALUES (${2001})`)
        inserted()
        await tx.query(sql`SELECT pg_sleep(0.3)`)
        throw new Error('roll back')
      })
      .catch(() => 'rolled back')
    await insertedNow
    const seen = await Promise.all(Array.from({ length: 20 }, () => db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM entry WHERE id = ${2001}`)))
    assert.equal(await rolledBack, 'rolled back')
    assert.deepEqual(new Set(seen.map((r) => r.n)), new Set([0]))
  })

  it("no statement joins a connection with someone's session state", async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.ready()
    const setter = db.query(sql`SELECT set_config('app.owner', 'setter', false), pg_sleep(0.2)`)
    const readers = Array.from({ length: 20 }, () => db.one<{ v: string | null }>(sql`SELECT current_setting('app.owner', true) AS v`))
    await setter
    for (const { v } of await Promise.all(readers)) assert.ok(v === null || v === '', `a reader saw ${String(v)}`)
  })

  it('a broken connection fails each of its statements with the connection error, and the pool carries on', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.ready()
    const pending = Array.from({ length: 30 }, (_, i) => db.one(sql`SELECT ${i}::int AS n, pg_sleep(1)`).catch((e: unknown) => e))
    await eventually(async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active'), 10_000, 'running')
    await ctx.admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [db.applicationName])
    for (const outcome of await Promise.all(pending)) {
      assert.ok(outcome instanceof ConnectionLostError || outcome instanceof AdminShutdownError, `got ${String(outcome)}`)
    }
    assert.deepEqual(await db.one(sql`SELECT ${1}::int AS n`), { n: 1 })
  })

  it('pipelining: false sends one batch at a time, with the same answers', async () => {
    const db = ctx.open({ pool: { max: 1 }, pipelining: false }, tap.url)
    await db.ready()
    tap.reset()
    const rows = await Promise.all(Array.from({ length: 20 }, (_, i) => db.one<{ n: number }>(sql`SELECT ${i}::int AS n`)))
    rows.forEach((row, i) => assert.equal(row.n, i))
    assert.equal(batchesBeforeFirstAnswer(tap.sequence), 1, `sequence: ${tap.sequence.join(' ')}`)
    assert.equal(db.stats().counters.pipelined, 0)
  })
})
