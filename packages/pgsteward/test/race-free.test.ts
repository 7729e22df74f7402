import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { getOrCreate, MisuseError, StaleVersionError, updateVersioned, sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('race_free')
await ctx.admin(`
  CREATE TABLE users (id serial PRIMARY KEY, username text NOT NULL UNIQUE, display_name text);
  CREATE TABLE doc (id int PRIMARY KEY, version int NOT NULL DEFAULT 1, counter int NOT NULL DEFAULT 0, title text);
  INSERT INTO doc (id) VALUES (1), (2);
`)

describe('getOrCreate', () => {
  it('200 concurrent callers on one key: one row, everyone gets its id, no error', async () => {
    const db = ctx.open({ pool: { max: 10 } })
    const results = await Promise.all(
      Array.from({ length: 200 }, () => getOrCreate<{ id: number }>(db, { table: 'users', key: { username: 'ada' }, values: { display_name: 'Ada' } })),
    )
    const rows = await ctx.admin<{ id: number }>(`SELECT id FROM users WHERE username = 'ada'`)
    assert.equal(rows.length, 1)
    assert.ok(results.every((r) => r.row.id === rows[0]?.id))
    assert.equal(results.filter((r) => r.created).length, 1)
  })

  it("200 concurrent callers over 20 keys: one row per key, each caller gets its key's row", async () => {
    const db = ctx.open({ pool: { max: 10 } })
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        getOrCreate<{ id: number; username: string }>(db, { table: 'users', key: { username: `user-${i % 20}` } }).then((r) => ({ i, ...r })),
      ),
    )
    const rows = await ctx.admin<{ id: number; username: string }>(`SELECT id, username FROM users WHERE username LIKE 'user-%'`)
    assert.equal(rows.length, 20)
    const idOf = new Map(rows.map((r) => [r.username, r.id]))
    for (const r of results) assert.equal(r.row.id, idOf.get(`user-${r.i % 20}`))
    assert.equal(results.filter((r) => r.created).length, 20)
  })

  it('works inside a transaction and refuses NULL keys', async () => {
    const db = ctx.open()
    const id = await db.transaction(async () => (await getOrCreate<{ id: number }>(db, { table: 'users', key: { username: 'in-tx' } })).row.id)
    assert.equal((await ctx.admin<{ id: number }>(`SELECT id FROM users WHERE username = 'in-tx'`))[0]?.id, id)
    await assert.rejects(getOrCreate(db, { table: 'users', key: { username: null } }), MisuseError)
  })
})

describe('optimistic update by version', () => {
  it('100 concurrent updates from version 1: exactly one wins, 99 get StaleVersionError with the current version', async () => {
    const db = ctx.open({ pool: { max: 10 } })
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        updateVersioned<{ version: number }>(db, { table: 'doc', key: { id: 1 }, expectedVersion: 1, set: { title: `t${i}` } }),
      ),
    )
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    assert.equal(won.length, 1)
    assert.equal(lost.length, 99)
    for (const l of lost) {
      assert.ok(l.reason instanceof StaleVersionError, String(l.reason))
      assert.equal(l.reason.currentVersion, 2)
      assert.equal(l.reason.expectedVersion, 1)
    }
    assert.equal((won[0] as PromiseFulfilledResult<{ version: number }>).value.version, 2)
  })

  it('with a read-modify-retry loop all 100 increments land', async () => {
    const db = ctx.open({ pool: { max: 10 } })
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        for (;;) {
          const current = await db.one<{ version: number; counter: number }>(sql`SELECT version, counter FROM doc WHERE id = 2`)
          try {
            await updateVersioned(db, { table: 'doc', key: { id: 2 }, expectedVersion: current.version, set: { counter: current.counter + 1 } })
            return
          } catch (err) {
            if (!(err instanceof StaleVersionError)) throw err
          }
        }
      }),
    )
    const [row] = await ctx.admin<{ version: number; counter: number }>('SELECT version, counter FROM doc WHERE id = 2')
    assert.deepEqual(row, { version: 101, counter: 100 })
  })
})

describe('advisory locks', () => {
  it('serialises transactions on a key and releases the lock at commit', async () => {
    const db = ctx.open({ pool: { max: 4 } })
    const order: string[] = []
    await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        db.transaction(async (tx) => {
          await tx.advisoryLock('project:42')
          order.push(`${name}-in`)
          await tx.query(sql`SELECT pg_sleep(0.03)`)
          order.push(`${name}-out`)
        }),
      ),
    )
    for (let i = 0; i < order.length; i += 2) assert.equal(order[i]?.replace('-in', ''), order[i + 1]?.replace('-out', ''), `no overlap: ${order.join(' ')}`)
    const taken = await db.transaction(async (tx) => tx.tryAdvisoryLock('project:42'))
    assert.equal(taken, true, 'released after commit')
    await assert.rejects(
      db.session(async (s) => (s as unknown as { advisoryLock(k: string): Promise<void> }).advisoryLock('x')),
      MisuseError,
    )
  })
})
