import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { eq } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { integer, pgTable, text } from 'drizzle-orm/pg-core'
import { Kysely, PostgresDialect, sql as ksql } from 'kysely'
import type pg from 'pg'
import { MisuseError, sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('facade_joined')
await ctx.admin('CREATE TABLE account (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL)')

interface DB {
  account: { id: number; owner: string; balance: number }
}

const account = pgTable('account', { id: integer('id').primaryKey(), owner: text('owner').notNull(), balance: integer('balance').notNull() })

function open(max = 2) {
  // A short acquire timeout: a second connection the pool cannot give (or a lock wait) fails fast instead of hiding as a slow pass.
  const db = ctx.open({ pool: { max, acquireTimeoutMs: 2_000 }, statementTimeoutMs: 5_000 })
  const pool = db.asPgPool()
  const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  const orm = drizzle({ client: pool as unknown as pg.Pool })
  return { db, pool, kysely, orm }
}

async function owners(): Promise<string[]> {
  return (await ctx.admin<{ owner: string }>('SELECT owner FROM account ORDER BY id')).map((r) => r.owner)
}

describe('Kysely and Drizzle transactions inside db.transaction join it', () => {
  it("Kysely's transaction() inside db.transaction sees the outer uncommitted row, and its rows are gone after the outer rollback", async () => {
    const { db, kysely } = open()
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO account VALUES (1, 'outer-k', 10)`)
        await kysely.transaction().execute(async (trx) => {
          const outer = await trx.selectFrom('account').select('owner').where('id', '=', 1).executeTakeFirst()
          assert.equal(outer?.owner, 'outer-k', 'the outer transaction’s uncommitted row is visible')
          await trx.insertInto('account').values({ id: 2, owner: 'inner-k', balance: 5 }).execute()
        })
        const both = await tx.many<{ owner: string }>(sql`SELECT owner FROM account WHERE id IN (1, 2) ORDER BY id`)
        assert.deepEqual(
          both.map((r) => r.owner),
          ['outer-k', 'inner-k'],
        )
        throw new Error('roll back everything')
      }),
      /roll back everything/,
    )
    assert.deepEqual(await owners(), [])
    assert.equal(db.stats().total <= 1, true, 'one connection served the whole transaction')
  })

  it("Drizzle's orm.transaction() inside db.transaction: same connection, rows gone after the outer rollback", async () => {
    const { db, orm } = open()
    const pids = new Set<number>()
    await assert.rejects(
      db.transaction(async (tx) => {
        pids.add((await tx.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)).pid)
        await tx.query(sql`INSERT INTO account VALUES (3, 'outer-d', 10)`)
        await orm.transaction(async (dtx) => {
          const seen = await dtx.select().from(account).where(eq(account.id, 3))
          assert.equal(seen[0]?.owner, 'outer-d')
          await dtx.insert(account).values({ id: 4, owner: 'inner-d', balance: 1 })
          pids.add((await dtx.execute<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number)
        })
        throw new Error('outer rollback')
      }),
      /outer rollback/,
    )
    assert.equal(pids.size, 1, 'Drizzle ran on the transaction’s own backend')
    assert.deepEqual(await owners(), [])
  })

  it('an update of a row the outer transaction locked goes through at once (no wait on its own lock)', async () => {
    await ctx.admin(`INSERT INTO account VALUES (10, 'locked', 100)`)
    const { db, kysely, orm } = open()
    await db.transaction(async (tx) => {
      await tx.query(sql`SELECT * FROM account WHERE id = 10 FOR UPDATE`)
      // lock_timeout turns a wait on the outer transaction's row lock into an error instead of a hang.
      await tx.query(sql`SET LOCAL lock_timeout = '1s'`)
      await kysely.transaction().execute(async (trx) => {
        await trx.updateTable('account').set({ balance: 90 }).where('id', '=', 10).execute()
      })
      await orm.transaction(async (dtx) => {
        await dtx.update(account).set({ balance: 80 }).where(eq(account.id, 10))
      })
    })
    const [row] = await ctx.admin<{ balance: number }>('SELECT balance FROM account WHERE id = 10')
    assert.equal(row?.balance, 80)
    await ctx.admin('DELETE FROM account WHERE id = 10')
  })

  it('committed work of a joined Kysely transaction commits with the outer transaction, and a rolled-back one does not', async () => {
    const { db, kysely } = open()
    await db.transaction(async () => {
      await kysely.transaction().execute(async (trx) => {
        await trx.insertInto('account').values({ id: 20, owner: 'kept', balance: 1 }).execute()
      })
      await assert.rejects(
        kysely.transaction().execute(async (trx) => {
          await trx.insertInto('account').values({ id: 21, owner: 'dropped', balance: 1 }).execute()
          throw new Error('inner failure')
        }),
        /inner failure/,
      )
    })
    assert.deepEqual(await owners(), ['kept'])
    await ctx.admin('DELETE FROM account')
  })

  it('inside db.session, Kysely and Drizzle transactions run on the session’s connection', async () => {
    const { db, kysely, orm } = open()
    await db.session(async (s) => {
      await s.query(sql`CREATE TEMP TABLE scratch (n int)`)
      // A temporary table exists only on the session's own connection: seeing it proves they joined.
      await kysely.transaction().execute(async (trx) => {
        await ksql`INSERT INTO scratch VALUES (1)`.execute(trx)
      })
      await orm.transaction(async (dtx) => {
        await dtx.execute('INSERT INTO scratch VALUES (2)')
      })
      const n = await s.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM scratch`)
      assert.equal(n.n, 2)
    })
  })
})

describe('nothing sent through the facade ends the outer transaction early', () => {
  it('a raw COMMIT or ROLLBACK on a client checked out inside db.transaction is refused, and the outer transaction still rolls back', async () => {
    const { db, pool } = open()
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO account VALUES (30, 'must-not-commit', 1)`)
        const client = await pool.connect()
        await assert.rejects(client.query('COMMIT'), (e: unknown) => e instanceof MisuseError && /end the outer transaction early/.test(e.message))
        await assert.rejects(client.query('end'), MisuseError)
        await assert.rejects(client.query('ROLLBACK'), MisuseError)
        client.release()
        throw new Error('outer rollback')
      }),
      /outer rollback/,
    )
    assert.deepEqual(await owners(), [])
  })

  it('pool.query inside db.transaction refuses BEGIN, COMMIT and ROLLBACK', async () => {
    const { db, pool } = open()
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO account VALUES (31, 'still-rolled-back', 1)`)
        for (const statement of ['COMMIT', 'commit work', 'BEGIN', 'ROLLBACK', 'abort']) {
          await assert.rejects(
            pool.query(statement),
            (e: unknown) => e instanceof MisuseError && /would act on the outer transaction/.test(e.message),
            statement,
          )
        }
        throw new Error('outer rollback')
      }),
      /outer rollback/,
    )
    assert.deepEqual(await owners(), [])
  })

  it('transaction control hidden in a string of several statements, two-phase commit and AND CHAIN are refused', async () => {
    const { db, pool } = open()
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO account VALUES (32, 'not-committed', 1)`)
        const client = await pool.connect()
        await client.query('BEGIN')
        for (const statement of [
          "SELECT 1; COMMIT; SELECT 'after'",
          "/* note */ select 'x;'; commit",
          'COMMIT AND CHAIN',
          "PREPARE TRANSACTION 'x'",
          "COMMIT PREPARED 'x'",
        ]) {
          await assert.rejects(client.query(statement), MisuseError, statement)
        }
        await client.query('COMMIT')
        client.release()
        // The joined COMMIT above released a savepoint: the outer transaction is still open and rolls back.
        throw new Error('outer rollback')
      }),
      /outer rollback/,
    )
    assert.deepEqual(await owners(), [])
  })

  it('a joined BEGIN asking for an isolation level or access mode is refused: a savepoint cannot have one', async () => {
    const { db, kysely } = open()
    await db.transaction(async () => {
      await assert.rejects(
        kysely
          .transaction()
          .setIsolationLevel('serializable')
          .execute(async () => undefined),
        (e: unknown) => e instanceof MisuseError && /set isolation and readOnly on the outer db\.transaction/.test(e.message),
      )
    })
  })

  it('savepoints a joined client left open are rolled back when it is released', async () => {
    const { db, pool } = open()
    await db.transaction(async (tx) => {
      const client = await pool.connect()
      await client.query('BEGIN')
      await client.query(`INSERT INTO account VALUES (33, 'abandoned', 1)`)
      client.release()
      await tx.query(sql`INSERT INTO account VALUES (34, 'outer-kept', 1)`)
    })
    assert.deepEqual(await owners(), ['outer-kept'])
    await ctx.admin('DELETE FROM account')
  })

  it('end() on a client joined to db.transaction is refused instead of closing the transaction’s connection', async () => {
    const { db, pool } = open()
    await db.transaction(async (tx) => {
      const client = await pool.connect()
      await assert.rejects(client.end(), (e: unknown) => e instanceof MisuseError && /call release\(\) instead/.test(e.message))
      client.release()
      assert.equal((await tx.one<{ one: number }>(sql`SELECT 1 AS one`)).one, 1)
    })
  })
})
