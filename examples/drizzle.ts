/** Drizzle on pgsteward: pass the pg.Pool-compatible facade as Drizzle's client. */
import { eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import { createDatabase } from 'pgsteward'
import { withDatabase } from './with-database.ts'

const note = pgTable('note', { id: serial('id').primaryKey(), body: text('body').notNull() })

await withDatabase(async (url) => {
  const db = createDatabase({ connectionString: url, pool: { max: 5 } })
  // Drizzle's types name pg's Pool class; the facade behaves as one at run time.
  const orm = drizzle({ client: db.asPgPool() as unknown as pg.Pool })
  await db.asPgPool().query('CREATE TABLE IF NOT EXISTS note (id serial PRIMARY KEY, body text NOT NULL)')
  await orm.transaction(async (tx) => {
    const [created] = await tx.insert(note).values({ body: 'hello' }).returning()
    if (created) await tx.update(note).set({ body: 'hello, drizzle' }).where(eq(note.id, created.id))
  })
  console.log(await orm.select().from(note))
  await db.close()
})
