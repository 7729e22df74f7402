import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Kysely, PostgresDialect, sql as ksql, type Generated } from 'kysely'
import Cursor from 'pg-cursor'
import { setup } from './support.ts'

const ctx = await setup('kysely')
await ctx.admin('CREATE TABLE pet (id serial PRIMARY KEY, name text NOT NULL UNIQUE, species text NOT NULL)')

interface DB {
  pet: { id: Generated<number>; name: string; species: string }
}

const db = ctx.open({ pool: { max: 4 } })
const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: db.asPgPool(), cursor: Cursor }) })
after(() => kysely.destroy())

describe('Kysely on db.asPgPool()', () => {
  it('inserts and selects', async () => {
    const inserted = await kysely.insertInto('pet').values({ name: 'Rex', species: 'dog' }).returning('id').executeTakeFirstOrThrow()
    const row = await kysely.selectFrom('pet').selectAll().where('id', '=', inserted.id).executeTakeFirstOrThrow()
    assert.deepEqual({ name: row.name, species: row.species }, { name: 'Rex', species: 'dog' })
  })

  it('commits a transaction, and rolls one back (the row is absent)', async () => {
    await kysely.transaction().execute(async (trx) => {
      await trx.insertInto('pet').values({ name: 'Tom', species: 'cat' }).execute()
    })
    await assert.rejects(
      kysely.transaction().execute(async (trx) => {
        await trx.insertInto('pet').values({ name: 'Ghost', species: 'cat' }).execute()
        throw new Error('abort')
      }),
      /abort/,
    )
    const names = (await kysely.selectFrom('pet').select('name').execute()).map((r) => r.name)
    assert.ok(names.includes('Tom'))
    assert.ok(!names.includes('Ghost'))
    assert.equal(db.stats().inUse, 0, 'every connection came back')
  })

  it('streams rows through a cursor', async () => {
    await kysely.insertInto('pet').values(Array.from({ length: 30 }, (_, i) => ({ name: `fish-${i}`, species: 'fish' }))).execute()
    let count = 0
    for await (const _row of kysely.selectFrom('pet').selectAll().where('species', '=', 'fish').stream(7)) count++
    assert.equal(count, 30)
    const { rows } = await ksql<{ n: number }>`SELECT count(*)::int AS n FROM pet`.execute(kysely)
    assert.ok((rows[0]?.n ?? 0) >= 31)
  })
})
