/**
 * Regression (issue 13, defect 10): `db.query`, `one` and `many` took no per-statement `signal` or
 * `timeoutMs`. They do now, with the scopes' rule: the caller is rejected at once, a running
 * statement is cancelled on the server, one not yet sent never reaches it, and the connection
 * comes back clean.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AbortedError, MisuseError, ScopeTimeoutError, sql } from 'pgsteward'
import { eventually, setup } from './support.ts'

const ctx = await setup('statement_timeout')
await ctx.admin('CREATE TABLE mark (id int PRIMARY KEY)')

describe('per-statement signal and timeoutMs', () => {
  it('timeoutMs cancels the statement on the server and returns a clean connection', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const err = await db.query(sql`SELECT pg_sleep(30)`, { timeoutMs: 200 }).catch((e: unknown) => e)
    assert.ok(err instanceof ScopeTimeoutError, `got ${String(err)}`)
    assert.equal(err.timeoutMs, 200)
    await eventually(async () => (await ctx.activity(db.applicationName)).every((a) => a.state === 'idle'), 10_000, 'nothing left running on the server')
    assert.deepEqual(await db.one(sql`SELECT ${1}::int AS n`), { n: 1 }, 'the same single connection serves the next statement')
  })

  it('an aborted write inside no transaction is cancelled: the row is not there', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const controller = new AbortController()
    const pending = db.query(sql`INSERT INTO mark SELECT ${1} FROM pg_sleep(30)`, { signal: controller.signal })
    await eventually(async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active'), 10_000, 'insert running')
    controller.abort(new Error('client went away'))
    const err = await pending.catch((e: unknown) => e)
    assert.ok(err instanceof AbortedError && /client went away/.test(err.message), `got ${String(err)}`)
    await eventually(async () => (await ctx.activity(db.applicationName)).every((a) => a.state === 'idle'), 10_000, 'cancelled on the server')
    assert.deepEqual(await ctx.admin('SELECT * FROM mark'), [])
  })

  it('a statement aborted while it waits for a connection never reaches the server', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    let release: (() => void) | undefined
    const held = db.session(() => new Promise<void>((r) => (release = r)))
    await eventually(() => release !== undefined, 10_000, 'connection held')
    const controller = new AbortController()
    const waiting = db.query(sql`INSERT INTO mark VALUES (${2})`, { signal: controller.signal })
    controller.abort()
    assert.ok((await waiting.catch((e: unknown) => e)) instanceof AbortedError)
    release?.()
    await held
    assert.deepEqual(await ctx.admin('SELECT * FROM mark WHERE id = 2'), [])
  })

  it('one and many take them too, and inside a transaction an aborted statement dooms the transaction', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await assert.rejects(db.one(sql`SELECT pg_sleep(30), 1 AS n`, { timeoutMs: 150 }), ScopeTimeoutError)
    await assert.rejects(db.many(sql`SELECT pg_sleep(30), 1 AS n`, { timeoutMs: 150 }), ScopeTimeoutError)
    const outcome = await db
      .transaction(async (tx) => {
        await tx.query(sql`INSERT INTO mark VALUES (${3})`)
        // The caller swallows the abort and carries on: the transaction must still not commit.
        await tx.query(sql`SELECT pg_sleep(30)`, { timeoutMs: 150 }).catch(() => undefined)
        return 'carried on'
      })
      .catch((e: unknown) => e)
    assert.ok(outcome instanceof ScopeTimeoutError, `got ${String(outcome)}`)
    assert.deepEqual(await ctx.admin('SELECT * FROM mark WHERE id = 3'), [])
  })

  it('bad options are a MisuseError naming them', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await assert.rejects(
      db.query(sql`SELECT 1`, { timeoutMs: -5 }),
      (e: unknown) => e instanceof MisuseError && /timeoutMs must be a positive integer/.test(e.message),
    )
    await assert.rejects(db.query(sql`SELECT 1`, { timeout: 5 } as never), (e: unknown) => e instanceof MisuseError && /Unknown option timeout/.test(e.message))
  })
})
