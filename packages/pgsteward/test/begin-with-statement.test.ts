/**
 * A transaction's BEGIN travels with its first statement. Round trips are counted by the
 * ReadyForQuery messages the server sends (one per batch), read off the wire by a relay between
 * the database and the server; what the server did is read back from the server: isolation
 * level, rows, transaction status, pg_stat_activity.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Cursor from 'pg-cursor'
import { ParameterError, UniqueViolationError, sql, type Database } from 'pgsteward'
import { protocolTap } from './protocol-tap.ts'
import { setup } from './support.ts'

const ctx = await setup('begin_with_statement')
await ctx.admin(`
  CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL);
  INSERT INTO counter VALUES (1, 0), (2, 0);
`)

const tap = await protocolTap(ctx.url)

/** The round trips the database makes while `work` runs, once its connection is open. */
async function roundTrips(db: Database, work: () => Promise<unknown>): Promise<{ count: number; statuses: string[] }> {
  await db.ready()
  tap.reset()
  await work()
  const statuses = [...tap.statuses]
  return { count: statuses.length, statuses }
}

describe('BEGIN sent with the first statement', () => {
  it("costs no round trip of its own: UPDATE + SELECT + COMMIT is three, and the result is the statement's", async () => {
    const db = ctx.open({ pool: { max: 1, min: 1 } }, tap.url)
    let updated: unknown
    const trips = await roundTrips(db, () =>
      db.transaction(async (tx) => {
        updated = await tx.query(sql`UPDATE counter SET n = n + 1 WHERE id = ${1}`)
        return tx.one(sql`SELECT n FROM counter WHERE id = ${1}`)
      }),
    )
    assert.deepEqual(trips.statuses, ['T', 'T', 'I'])
    assert.equal((updated as { command: string }).command, 'UPDATE')
    assert.equal((updated as { rowCount: number }).rowCount, 1)
    assert.deepEqual(await ctx.admin('SELECT n FROM counter WHERE id = 1'), [{ n: 1 }])
  })

  it('runs the first statement inside the transaction with the requested characteristics', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const [pipelined, alone] = await Promise.all([
      db.transaction(
        (tx) =>
          tx.one<{ iso: string; ro: string }>(sql`SELECT current_setting(${'transaction_isolation'}) AS iso, current_setting('transaction_read_only') AS ro`),
        {
          isolation: 'serializable',
          readOnly: true,
        },
      ),
      // No parameters: node-postgres sends it with the simple protocol, so BEGIN goes first on its own.
      db.transaction(
        (tx) =>
          tx.one<{ iso: string; ro: string }>(sql`SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro`),
        {
          isolation: 'repeatable read',
          readOnly: true,
        },
      ),
    ])
    assert.deepEqual(pipelined, { iso: 'serializable', ro: 'on' })
    assert.deepEqual(alone, { iso: 'repeatable read', ro: 'on' })
  })

  it('a first statement that fails rolls back the transaction it opened and leaves the connection clean', async () => {
    const db = ctx.open({ pool: { max: 1 } }, tap.url)
    await ctx.admin('CREATE TABLE tag (name text PRIMARY KEY); INSERT INTO tag VALUES ($$taken$$)')
    const trips = await roundTrips(db, async () => {
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query(sql`INSERT INTO tag VALUES (${'taken'})`)
        }),
        UniqueViolationError,
      )
    })
    // The failed batch reports a failed transaction ('E'), which ROLLBACK ends ('I').
    assert.deepEqual(trips.statuses, ['E', 'I'])
    tap.reset()
    assert.deepEqual(await db.many(sql`SELECT count(*)::int AS n FROM tag`), [{ n: 1 }])
    assert.deepEqual(tap.statuses, ['I'], 'the next statement finds the connection outside any transaction')
  })

  it('a transaction that ran no statement sends nothing, and still runs its afterCommit hooks', async () => {
    const db = ctx.open({ pool: { max: 1, min: 1 } }, tap.url)
    let committed = 0
    const trips = await roundTrips(db, () =>
      db.transaction(async (tx) => {
        tx.afterCommit(() => committed++)
        return 'done'
      }),
    )
    assert.equal(trips.count, 0)
    assert.equal(committed, 1)
    const [session] = await ctx.activity(db.applicationName)
    assert.equal(session?.xact_start, null, 'no transaction is left open on the server')
  })

  it('a value that cannot be serialised fails that statement without leaving BEGIN half-sent', async () => {
    const db = ctx.open({ pool: { max: 1, acquireTimeoutMs: 2_000 } })
    const unserialisable = {
      toPostgres(): never {
        throw new Error('no wire form')
      },
    }
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`UPDATE counter SET n = n + 1 WHERE id = ${unserialisable}`)
      }),
      (err: unknown) => err instanceof ParameterError && err.position === 1 && !err.message.includes('no wire form'),
    )
    // The only connection answers at once, outside any transaction, and nothing was updated.
    const row = await db.one<{ n: number; idle: boolean }>(sql`SELECT n, pg_current_xact_id_if_assigned() IS NULL AS idle FROM counter WHERE id = ${2}`)
    assert.deepEqual(row, { n: 0, idle: true })
  })

  it('a cursor opened first through the pg facade runs after its own BEGIN, inside the transaction', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pgPool = db.asPgPool()
    const rows = await db.transaction(
      async () => {
        // Inside the transaction the facade's query joins it, submittables included.
        const cursor = pgPool.query(new Cursor('SELECT current_setting($1) AS iso FROM generate_series(1, 3)', ['transaction_isolation']))
        const read = (await cursor.read(10)) as { iso: string }[]
        await cursor.close()
        return read
      },
      { isolation: 'repeatable read' },
    )
    assert.deepEqual(rows, [{ iso: 'repeatable read' }, { iso: 'repeatable read' }, { iso: 'repeatable read' }])
  })

  it("retries re-open the transaction with the next attempt's first statement", async () => {
    const db = ctx.open({ pool: { max: 1 } })
    let attempts = 0
    const n = await db.transaction(async (tx) => {
      attempts++
      const row = await tx.one<{ n: number }>(sql`UPDATE counter SET n = n + 10 WHERE id = ${2} RETURNING n`)
      if (attempts === 1) {
        // A deadlock's SQLSTATE is retryable; raising it here makes the first attempt fail after its write.
        await tx.query(sql`DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01', MESSAGE = 'simulated deadlock'; END $$`)
      }
      return row.n
    })
    assert.equal(attempts, 2)
    assert.equal(n, 10, "the first attempt's write was rolled back")
    assert.deepEqual(await ctx.admin('SELECT n FROM counter WHERE id = 2'), [{ n: 10 }])
  })
})
