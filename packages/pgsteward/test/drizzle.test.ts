import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { setup } from './support.ts'

const ctx = await setup('drizzle')
await ctx.admin('CREATE TABLE book (id serial PRIMARY KEY, title text NOT NULL, copies integer NOT NULL DEFAULT 0)')

const book = pgTable('book', { id: serial('id').primaryKey(), title: text('title').notNull(), copies: integer('copies').notNull() })

describe('Drizzle (node-postgres) on db.asPgPool()', () => {
  const db = ctx.open({ pool: { max: 3 } })
  // Drizzle's types name pg's concrete Pool class; the facade matches it at run time, not nominally.
  const orm = drizzle({ client: db.asPgPool() as unknown as pg.Pool })

  it('queries', async () => {
    const [created] = await orm.insert(book).values({ title: 'Dune', copies: 2 }).returning()
    assert.ok(created)
    const found = await orm.select().from(book).where(eq(book.id, created.id))
    assert.equal(found[0]?.title, 'Dune')
  })

  it('commits and rolls back transactions on one connection', async () => {
    await orm.transaction(async (tx) => {
      await tx.insert(book).values({ title: 'Kept', copies: 1 })
      await tx.update(book).set({ copies: 5 }).where(eq(book.title, 'Kept'))
    })
    await assert.rejects(
      orm.transaction(async (tx) => {
        await tx.insert(book).values({ title: 'Discarded', copies: 1 })
        tx.rollback()
      }),
    )
    const titles = (await ctx.admin<{ title: string; copies: number }>('SELECT title, copies FROM book')).map((r) => `${r.title}:${r.copies}`)
    assert.ok(titles.includes('Kept:5'))
    assert.ok(!titles.some((t) => t.startsWith('Discarded')))
    assert.equal(db.stats().inUse, 0)
  })

  it('nested transactions are savepoints', async () => {
    await orm.transaction(async (tx) => {
      await tx.insert(book).values({ title: 'Outer', copies: 1 })
      await assert.rejects(
        tx.transaction(async (inner) => {
          await inner.insert(book).values({ title: 'Inner', copies: 1 })
          inner.rollback()
        }),
      )
    })
    const titles = (await ctx.admin<{ title: string }>('SELECT title FROM book')).map((r) => r.title)
    assert.ok(titles.includes('Outer'))
    assert.ok(!titles.includes('Inner'))
  })
})
