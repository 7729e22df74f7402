/** Kysely on pgsteward: one line changes (the pool), everything else is plain Kysely. */
import { Kysely, PostgresDialect, sql, type Generated } from 'kysely'
import Cursor from 'pg-cursor'
import { createDatabase } from 'pgsteward'
import { withDatabase } from './with-database.ts'

interface DB {
  person: { id: Generated<number>; name: string }
}

await withDatabase(async (url) => {
  const db = createDatabase({ connectionString: url, pool: { max: 5, leakDetectionMs: 10_000 } })
  const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: db.asPgPool(), cursor: Cursor }) })
  await sql`CREATE TABLE IF NOT EXISTS person (id serial PRIMARY KEY, name text NOT NULL)`.execute(kysely)
  await kysely.transaction().execute(async (trx) => {
    await trx
      .insertInto('person')
      .values([{ name: 'Ada' }, { name: 'Grace' }])
      .execute()
  })
  for await (const person of kysely.selectFrom('person').selectAll().stream(100)) console.log('person', person)
  // Inside a pgsteward transaction, Kysely's transaction runs on its connection as a savepoint: it rolls back with it.
  await db
    .transaction(async () => {
      await kysely.transaction().execute((trx) => trx.insertInto('person').values({ name: 'Edsger' }).execute())
      throw new Error('changed my mind')
    })
    .catch(() => undefined)
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM person`.execute(kysely)
  console.log('people after the outer rollback:', rows[0]?.n)
  console.log('pool', db.stats().counters.acquired, 'acquisitions')
  await kysely.destroy() // ends the pool: pgsteward drains and closes
})
