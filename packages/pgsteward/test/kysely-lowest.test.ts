/**
 * The lowest Kysely release the facade is tested with (0.28, before query abort): what it asks
 * of a pg pool (connect, query, release, cursors) works as with the current release, and its
 * transactions inside db.transaction join it.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Kysely, PostgresDialect, sql as ksql, type Generated } from 'kysely-0.28'
import Cursor from 'pg-cursor'
import { sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('kysely_lowest')
await ctx.admin('CREATE TABLE item (id serial PRIMARY KEY, label text NOT NULL)')

interface DB {
  item: { id: Generated<number>; label: string }
}

const db = ctx.open({ pool: { max: 2 } })
const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: db.asPgPool(), cursor: Cursor }) })
after(() => kysely.destroy())

describe('Kysely 0.28 on db.asPgPool()', () => {
  it('commits, rolls back, and streams (leaving a stream early returns its connection)', async () => {
    await kysely.transaction().execute((trx) =>
      trx
        .insertInto('item')
        .values([{ label: 'a' }, { label: 'b' }])
        .execute(),
    )
    await assert.rejects(
      kysely.transaction().execute(async (trx) => {
        await trx.insertInto('item').values({ label: 'gone' }).execute()
        throw new Error('no')
      }),
      /no/,
    )
    const labels: string[] = []
    for await (const row of kysely.selectFrom('item').select('label').orderBy('id').stream(1)) labels.push(row.label)
    assert.deepEqual(labels, ['a', 'b'])
    for (let i = 0; i < 4; i++) for await (const _row of kysely.selectFrom('item').selectAll().stream(1)) break
    assert.equal(db.stats().inUse, 0)
  })

  it('a transaction inside db.transaction joins it: it sees the outer row and is rolled back with it', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO item (label) VALUES ('outer')`)
        await kysely.transaction().execute(async (trx) => {
          const { rows } = await ksql<{ n: number }>`SELECT count(*)::int AS n FROM item WHERE label = 'outer'`.execute(trx)
          assert.equal(rows[0]?.n, 1)
          await trx.insertInto('item').values({ label: 'inner' }).execute()
        })
        throw new Error('outer rollback')
      }),
      /outer rollback/,
    )
    const left = await ctx.admin<{ label: string }>(`SELECT label FROM item WHERE label IN ('outer', 'inner')`)
    assert.deepEqual(left, [])
  })
})
