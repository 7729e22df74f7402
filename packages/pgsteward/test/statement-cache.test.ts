/**
 * The statement cache, checked against the server's own record of each connection's prepared
 * statements (pg_prepared_statements), and against the ways a cached statement goes wrong:
 * its table changes shape, the application deallocates it, its text does not parse.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DatabaseError, sql, type Database, type Session } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('statement_cache')
await ctx.admin(`
  CREATE TABLE item (id int PRIMARY KEY, label text NOT NULL);
  INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 20) AS g;
`)

/** The prepared statements of the session's connection, as the server lists them. */
async function preparedOn(s: Session): Promise<string[]> {
  // No parameters: this statement is not itself cached.
  const result = await s.query<{ statement: string }>(sql`SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`)
  return result.rows.map((r) => r.statement)
}

async function preparedOnOnlyConnection(db: Database): Promise<string[]> {
  return db.session((s) => preparedOn(s))
}

describe('statement cache', () => {
  it('prepares a parameterised statement once per connection and reuses it', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    for (let id = 1; id <= 5; id++) {
      assert.deepEqual(await db.one(sql`SELECT label FROM item WHERE id = ${id}`), { label: `item ${id}` })
    }
    assert.deepEqual(await preparedOnOnlyConnection(db), ['SELECT label FROM item WHERE id = $1'])
  })

  it('prepares at most statementCacheSize statements per connection; the rest run unnamed', async () => {
    const db = ctx.open({ pool: { max: 1 }, statementCacheSize: 2 })
    await db.query(sql`SELECT 1 AS a WHERE ${1}::int = 1`)
    await db.query(sql`SELECT 2 AS b WHERE ${1}::int = 1`)
    const third = await db.one(sql`SELECT 3 AS c WHERE ${1}::int = 1`)
    assert.deepEqual(third, { c: 3 })
    assert.deepEqual(await preparedOnOnlyConnection(db), ['SELECT 1 AS a WHERE $1::int = 1', 'SELECT 2 AS b WHERE $1::int = 1'])
  })

  it('statementCacheSize: 0 prepares nothing', async () => {
    const db = ctx.open({ pool: { max: 1 }, statementCacheSize: 0 })
    await db.query(sql`SELECT label FROM item WHERE id = ${1}`)
    await db.transaction((tx) => tx.query(sql`SELECT label FROM item WHERE id = ${2}`))
    assert.deepEqual(await preparedOnOnlyConnection(db), [])
  })

  it('a table that changed shape under SELECT * is re-prepared: one-shot queries and transactions both succeed', async () => {
    await ctx.admin('CREATE TABLE shape (id int PRIMARY KEY, a text); INSERT INTO shape VALUES (1, $$x$$)')
    const db = ctx.open({ pool: { max: 1 } })
    const retries: unknown[] = []
    db.on('retry', (r) => retries.push(r.error))
    const read = (): Promise<Record<string, unknown>> => db.one(sql`SELECT * FROM shape WHERE id = ${1}`)
    const readInTransaction = (): Promise<Record<string, unknown>> => db.transaction((tx) => tx.one(sql`SELECT * FROM shape WHERE id = ${1} FOR SHARE`))
    assert.deepEqual(await read(), { id: 1, a: 'x' })
    assert.deepEqual(await readInTransaction(), { id: 1, a: 'x' })

    await ctx.admin('ALTER TABLE shape ADD COLUMN b int NOT NULL DEFAULT 7')
    // The server refuses both cached plans ("cached plan must not change result type").
    assert.deepEqual(await read(), { id: 1, a: 'x', b: 7 })
    assert.deepEqual(await readInTransaction(), { id: 1, a: 'x', b: 7 })
    assert.equal(retries.length, 1, 'the transaction was re-run once, the one-shot query re-sent without a retry')
    assert.ok(retries[0] instanceof DatabaseError)
    assert.equal(retries[0].sqlState, '0A000')
  })

  it('statements deallocated by the application are prepared again, in a session and in a transaction', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const rows = await db.session(async (s) => {
      await s.query(sql`SELECT label FROM item WHERE id = ${1}`)
      await s.query(sql`SELECT label FROM item WHERE id = ${1} FOR SHARE`)
      await s.query(sql`DEALLOCATE ALL`)
      const again = await s.one(sql`SELECT label FROM item WHERE id = ${2}`)
      const inTransaction = await s.transaction((tx) => tx.one(sql`SELECT label FROM item WHERE id = ${3} FOR SHARE`))
      return [again, inTransaction, await preparedOn(s)]
    })
    assert.deepEqual(rows, [
      { label: 'item 2' },
      { label: 'item 3' },
      ['SELECT label FROM item WHERE id = $1', 'SELECT label FROM item WHERE id = $1 FOR SHARE'],
    ])
  })

  it('a statement that does not parse fails the same way every time, and takes no slot', async () => {
    const db = ctx.open({ pool: { max: 1 }, statementCacheSize: 1 })
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(db.query(sql`SELEC label FROM item WHERE id = ${1}`), (err: unknown) => err instanceof DatabaseError && err.sqlState === '42601')
      // The same text as the first statement of a transaction, where BEGIN travels with it.
      await assert.rejects(
        db.transaction((tx) => tx.query(sql`SELEC label FROM item WHERE id = ${1}`)),
        (err: unknown) => err instanceof DatabaseError && err.sqlState === '42601',
      )
    }
    await db.query(sql`SELECT label FROM item WHERE id = ${1}`)
    assert.deepEqual(await preparedOnOnlyConnection(db), ['SELECT label FROM item WHERE id = $1'])
  })

  it('a connection reset after a session change (DISCARD ALL) prepares its statements afresh', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.query(sql`SELECT label FROM item WHERE id = ${1}`)
    // Changing session state makes the pool run DISCARD ALL before lending the connection again.
    await db.session((s) => s.query(sql`SET search_path TO public`))
    assert.equal(db.stats().counters.resets, 1)
    assert.deepEqual(await db.one(sql`SELECT label FROM item WHERE id = ${4}`), { label: 'item 4' })
    assert.deepEqual(await preparedOnOnlyConnection(db), ['SELECT label FROM item WHERE id = $1'])
  })
})
