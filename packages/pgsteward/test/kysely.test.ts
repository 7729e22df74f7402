import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Kysely, PostgresDialect, sql as ksql, type Generated } from 'kysely'
import Cursor from 'pg-cursor'
import { eventually, setup } from './support.ts'

const ctx = await setup('kysely')
await ctx.admin('CREATE TABLE pet (id serial PRIMARY KEY, name text NOT NULL UNIQUE, species text NOT NULL)')

interface DB {
  pet: { id: Generated<number>; name: string; species: string }
}

const db = ctx.open({ pool: { max: 4 } })
const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool: db.asPgPool(), cursor: Cursor }) })
after(() => kysely.destroy())

/** Our backends still running a statement whose text contains `marker` (Kysely's own cancel statement excluded). */
async function running(applicationName: string, marker: string): Promise<number> {
  const sessions = await ctx.activity(applicationName)
  return sessions.filter(
    (s) => s.state === 'active' && s.query.includes(marker) && !s.query.includes('pg_cancel_backend') && !s.query.includes('pg_terminate_backend'),
  ).length
}

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
    await kysely
      .insertInto('pet')
      .values(Array.from({ length: 30 }, (_, i) => ({ name: `fish-${i}`, species: 'fish' })))
      .execute()
    let count = 0
    for await (const _row of kysely.selectFrom('pet').selectAll().where('species', '=', 'fish').stream(7)) count++
    assert.equal(count, 30)
    const { rows } = await ksql<{ n: number }>`SELECT count(*)::int AS n FROM pet`.execute(kysely)
    assert.ok((rows[0]?.n ?? 0) >= 31)
  })

  it('a stream left early closes its cursor and returns the connection, more times than the pool has connections', async () => {
    for (let i = 0; i < 6; i++) {
      for await (const _row of kysely.selectFrom('pet').selectAll().stream(1)) break
    }
    for (let i = 0; i < 6; i++) {
      for await (const _row of kysely.selectFrom('pet').selectAll().where('species', '=', 'nothing-matches').stream()) break
    }
    assert.equal(db.stats().inUse, 0)
  })

  it('a stream aborted mid-read rejects with the reason and returns the connection', async () => {
    const controller = new AbortController()
    const reason = new Error('stop reading')
    await assert.rejects(
      (async () => {
        for await (const _row of kysely.selectFrom('pet').selectAll().stream({ chunkSize: 1, signal: controller.signal })) controller.abort(reason)
      })(),
      (e: unknown) => e === reason,
    )
    await eventually(() => db.stats().inUse === 0, 5_000, 'connection returned')
  })
})

describe('Kysely query abort on db.asPgPool()', () => {
  it('pool.options carries the connection settings; the password is there but not enumerable', () => {
    const options = db.asPgPool().options
    const url = new URL(ctx.url)
    assert.equal(options.host, url.hostname)
    assert.equal(options.port, Number(url.port))
    assert.equal(options.user, decodeURIComponent(url.username))
    assert.equal(options.database, url.pathname.slice(1))
    assert.ok('password' in options)
    assert.ok(!Object.keys(options).includes('password'))
    assert.ok(!JSON.stringify(options).includes('password'))
  })

  for (const strategy of ['cancel query', 'kill session'] as const) {
    it(`an INSERT ... SELECT pg_sleep aborted with "${strategy}" is stopped on the server and leaves no row`, async () => {
      const abortDb = ctx.open({ pool: { max: 2 } })
      const pool = abortDb.asPgPool()
      const poolErrors: Error[] = []
      pool.on('error', (err: Error) => poolErrors.push(err))
      const aborting = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
      const marker = `abort_${strategy.replace(' ', '_')}`
      // Aborted once the server runs it (a fixed delay could fire before it starts on a busy machine).
      const controller = new AbortController()
      const inserting = ksql`with delayed as (select pg_sleep(3)) insert into pet (name, species) select ${marker}, 'ghost' from delayed`.execute(aborting, {
        signal: controller.signal,
        inflightQueryAbortStrategy: strategy,
      })
      await eventually(async () => (await running(abortDb.applicationName, 'pg_sleep(3)')) === 1, 10_000, 'the statement running on the server')
      controller.abort(new DOMException('The operation timed out.', 'TimeoutError'))
      await assert.rejects(inserting, (e: unknown) => (e as { name?: string }).name === 'TimeoutError')
      // Had the abort not reached the server, the INSERT would still be sleeping and then commit.
      await eventually(async () => (await running(abortDb.applicationName, 'pg_sleep(3)')) === 0, 10_000, 'the statement stopped on the server')
      const rows = await ctx.admin('SELECT 1 FROM pet WHERE name = $1', [marker])
      assert.equal(rows.length, 0)
      if (strategy === 'kill session') {
        // As with pg.Pool: the killed connection, released by Kysely, is reported on the pool and removed.
        await eventually(() => poolErrors.length > 0, 5_000, 'pool error event')
        assert.equal(poolErrors.at(-1)?.message, 'Connection terminated unexpectedly')
      }
      assert.equal((await ksql<{ n: number }>`select 1 as n`.execute(aborting)).rows[0]?.n, 1, 'the pool goes on working')
      await aborting.destroy()
    })
  }
})
