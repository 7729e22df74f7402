import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Cursor from 'pg-cursor'
import QueryStream from 'pg-query-stream'
import type pg from 'pg'
import { PoolTimeoutError, ReleasedConnectionError, sql } from 'pgsteward'
import { eventually, setup, warm } from './support.ts'

const ctx = await setup('pg_facade')
await ctx.admin('CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL)')

type Row = Record<string, unknown>

describe('db.asPgPool(): pg.Pool behaviour', () => {
  it('pool.query with values, promise and callback styles', async () => {
    const pool = ctx.open().asPgPool()
    const res = await pool.query<Row>('SELECT $1::text AS name', ['brianc'])
    assert.equal(res.rows[0]?.name, 'brianc')
    assert.equal(res.rowCount, 1)
    assert.equal(res.command, 'SELECT')
    const viaCallback = await new Promise<pg.QueryResult<Row>>((resolve, reject) => {
      const returned = pool.query('SELECT $1::int AS n', [42], (err: Error | undefined, r?: unknown) => (err ? reject(err) : resolve(r as pg.QueryResult<Row>)))
      assert.equal(returned, undefined, 'callback style returns nothing')
    })
    assert.equal(viaCallback.rows[0]?.n, 42)
    const config = await pool.query<unknown[]>({ text: 'SELECT $1::int AS a, $2::int AS b', values: [1, 2], rowMode: 'array' })
    assert.deepEqual(config.rows, [[1, 2]])
  })

  it('named prepared statements run repeatedly', async () => {
    const pool = ctx.open({ pool: { max: 1 } }).asPgPool()
    for (let i = 0; i < 3; i++) {
      const r = await pool.query<Row>({ name: 'double-it', text: 'SELECT $1::int * 2 AS v', values: [i] })
      assert.equal(r.rows[0]?.v, i * 2)
    }
    const prepared = await pool.query<Row>('SELECT count(*)::int AS n FROM pg_prepared_statements')
    assert.equal(prepared.rows[0]?.n, 1)
  })

  it('checkout, hand-written transaction, release: the documented pattern', async () => {
    const pool = ctx.open().asPgPool()
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('INSERT INTO people (name) VALUES ($1)', ['committed-by-hand'])
      await client.query('COMMIT')
    } catch (e) {
      await client.query('ROLLBACK')
      throw e
    } finally {
      client.release()
    }
    const rolled = await pool.connect()
    await rolled.query('BEGIN')
    await rolled.query('INSERT INTO people (name) VALUES ($1)', ['rolled-back-by-hand'])
    await rolled.query('ROLLBACK')
    rolled.release()
    const names = (await ctx.admin<{ name: string }>('SELECT name FROM people')).map((r) => r.name)
    assert.ok(names.includes('committed-by-hand'))
    assert.ok(!names.includes('rolled-back-by-hand'))
  })

  it('connect() callback style with done', async () => {
    const pool = ctx.open().asPgPool()
    const n = await new Promise<unknown>((resolve, reject) =>
      pool.connect((err, client, done) => {
        if (err || !client || !done) return reject(err ?? new Error('no client'))
        client.query<Row>('SELECT 3 AS n').then((r) => {
          done()
          resolve(r.rows[0]?.n)
        }, reject)
      }),
    )
    assert.equal(n, 3)
  })

  it('a failed statement keeps the connection; release(true) destroys it; a second release throws', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const client = await pool.connect()
    const pid = client.processID
    await assert.rejects(client.query('SELECT 1/0') as Promise<unknown>, (e: unknown) => (e as { code?: string }).code === '22012')
    client.release()
    assert.throws(() => client.release(), /already been released/)
    await assert.rejects(client.query('SELECT 1') as Promise<unknown>, ReleasedConnectionError)
    const again = await pool.connect()
    assert.equal(again.processID, pid, 'same connection after a failed statement')
    assert.equal(db.stats().counters.destroyed.broken, 0)
    again.release(true)
    await eventually(() => pool.totalCount === 0, 1_000, 'destroyed on release(true)')
    const fresh = await pool.connect()
    assert.notEqual(fresh.processID, pid)
    fresh.release()
  })

  it('exposes counts, options and events', async () => {
    const db = ctx.open({ pool: { max: 3, idleTimeoutMs: 5_000, acquireTimeoutMs: 2_000 } })
    const pool = db.asPgPool()
    const events: string[] = []
    for (const name of ['connect', 'acquire', 'release', 'remove']) pool.on(name, () => events.push(name))
    assert.equal(pool.options.max, 3)
    assert.equal(pool.options.idleTimeoutMillis, 5_000)
    assert.equal(pool.options.connectionTimeoutMillis, 2_000)
    const a = await pool.connect()
    const b = await pool.connect()
    assert.equal(pool.totalCount, 2)
    assert.equal(pool.idleCount, 0)
    const c = await pool.connect()
    const waiting = pool.connect()
    await eventually(() => pool.waitingCount === 1, 1_000, 'one waiter')
    a.release()
    ;(await waiting).release()
    b.release()
    c.release(new Error('broken by the app'))
    assert.equal(pool.idleCount, 2)
    assert.equal(pool.expiredCount, 0)
    await eventually(() => events.includes('remove'), 1_000, 'remove emitted')
    assert.deepEqual(
      events.filter((e) => e !== 'remove'),
      ['connect', 'acquire', 'connect', 'acquire', 'connect', 'acquire', 'release', 'acquire', 'release', 'release', 'release'],
    )
    assert.equal(pool.ending, false)
    await pool.end()
    assert.equal(pool.ended, true)
    await assert.rejects(pool.end(), /more than once/)
    await assert.rejects(pool.query('SELECT 1') as Promise<unknown>, /closed/)
  })

  it('emits error for an idle client killed by the server, without crashing', async () => {
    const pool = ctx.open({ applicationName: 'facade-idle-error' }).asPgPool()
    const errors: Error[] = []
    pool.on('error', (err: Error) => errors.push(err))
    await pool.query('SELECT 1')
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'facade-idle-error'`)
    await eventually(() => errors.length === 1, 2_000, 'error event')
    assert.match(errors[0]?.message ?? '', /terminating connection/)
    assert.equal((await pool.query<Row>('SELECT 1 AS n')).rows[0]?.n, 1)
  })

  it('streams with pg-query-stream through pool.query and releases the connection at the end', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const stream = pool.query(new QueryStream('SELECT generate_series(1, 1000) AS n', [], { batchSize: 100 }))
    let sum = 0
    for await (const row of stream) sum += (row as { n: number }).n
    assert.equal(sum, 500_500)
    await eventually(() => db.stats().idle === 1, 1_000, 'released after the stream ended')
  })

  it('reads with pg-cursor on a checked-out client', async () => {
    const pool = ctx.open().asPgPool()
    const client = await pool.connect()
    const cursor = client.query(new Cursor('SELECT generate_series(1, 25) AS n'))
    const first = await cursor.read(10)
    const second = await cursor.read(10)
    const third = await cursor.read(10)
    await cursor.close()
    client.release()
    assert.deepEqual([first.length, second.length, third.length], [10, 10, 5])
  })

  it('joins the open db.transaction, so legacy code cannot escape it', async () => {
    const db = ctx.open()
    const pool = db.asPgPool()
    await assert.rejects(
      db.transaction(async (tx) => {
        await pool.query('INSERT INTO people (name) VALUES ($1)', ['legacy-inside-tx'])
        const seen = await tx.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM people WHERE name = 'legacy-inside-tx'`)
        assert.equal(seen.n, 1, 'visible inside the transaction')
        throw new Error('roll it all back')
      }),
      /roll it all back/,
    )
    assert.equal((await ctx.admin(`SELECT 1 FROM people WHERE name = 'legacy-inside-tx'`)).length, 0)
  })

  it('a leaked checkout triggers the leak event, and a waiter times out naming the holder', async () => {
    // The short timeout is for the waiter below. The one connection is opened by `min` (no acquire,
    // so no deadline) and awaited before anything asks for it, however slow the machine.
    const db = ctx.open({ pool: { max: 1, min: 1, leakDetectionMs: 50, acquireTimeoutMs: 200, validateAfterIdleMs: 60_000 } })
    await warm(db)
    const pool = db.asPgPool()
    const leaks: (string | undefined)[] = []
    db.on('leak', (l) => leaks.push(l.acquiredAt))
    const leaked = await (async function legacyHandlerThatForgetsRelease() {
      return pool.connect()
    })()
    await eventually(() => leaks.length === 1, 1_000, 'leak reported')
    assert.match(leaks[0] ?? '', /pg-facade\.test\.ts/)
    const err = await (pool.query('SELECT 1') as Promise<unknown>).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(err instanceof PoolTimeoutError, String(err))
    assert.match(err.message, /connection #\d+ held for \d+ ms, acquired at:\n.*pg-facade\.test\.ts/)
    leaked.release()
  })
})
