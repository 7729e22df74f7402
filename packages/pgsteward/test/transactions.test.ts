import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  AmbiguousCommitError,
  DeadlockDetectedError,
  FailedTransactionError,
  MisuseError,
  SerializationFailureError,
  UniqueViolationError,
  sql,
} from 'pgsteward'
import { eventually, setup } from './support.ts'

const ctx = await setup('transactions')
await ctx.admin(`
  CREATE TABLE duty (doctor text PRIMARY KEY, on_call boolean NOT NULL);
  INSERT INTO duty VALUES ('alice', true), ('bob', true);
  CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL);
  INSERT INTO account VALUES (1, 100), (2, 100);
  CREATE TABLE notes (id serial PRIMARY KEY, body text UNIQUE);
  CREATE TABLE slow_commit (id int);
  CREATE FUNCTION sleep_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
  CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sleep_at_commit();
`)

function barrier(parties: number): () => Promise<void> {
  let arrived = 0
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  return () => {
    if (++arrived === parties) open()
    return opened
  }
}

describe('transactions', () => {
  it('re-runs a serializable transaction that lost a conflict; both commit and each afterCommit runs once', async () => {
    const db = ctx.open({ pool: { max: 4 } })
    const retries: unknown[] = []
    db.on('retry', (r) => retries.push(r.error))
    const bothRead = barrier(2)
    const commits = { alice: 0, bob: 0 }
    const rollbacks = { alice: 0, bob: 0 }
    const attempts = { alice: 0, bob: 0 }
    // Write skew: each reads that the other is on call, then goes off call. Serializable forbids both.
    const goOffCall = (me: 'alice' | 'bob'): Promise<boolean> =>
      db.transaction(
        async (tx) => {
          attempts[me]++
          tx.afterCommit(() => commits[me]++)
          tx.afterRollback(() => rollbacks[me]++)
          const { n } = await tx.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM duty WHERE on_call`)
          if (attempts[me] === 1) await bothRead()
          if (n < 2) return false
          await tx.query(sql`UPDATE duty SET on_call = false WHERE doctor = ${me}`)
          return true
        },
        { isolation: 'serializable', retry: { max: 3 } },
      )
    const [a, b] = await Promise.all([goOffCall('alice'), goOffCall('bob')])
    assert.equal([a, b].filter(Boolean).length, 1, 'exactly one went off call after the retry saw the other')
    assert.equal(retries.length, 1)
    assert.ok(retries[0] instanceof SerializationFailureError)
    assert.deepEqual(commits, { alice: 1, bob: 1 })
    assert.equal(rollbacks.alice + rollbacks.bob, 1, 'the losing attempt ran its afterRollback')
    assert.equal(attempts.alice + attempts.bob, 3)
    const onCall = await ctx.admin<{ n: string }>('SELECT count(*) AS n FROM duty WHERE on_call')
    assert.equal(onCall[0]?.n, '1')
  })

  it('resolves a real deadlock (40P01) by retrying the victim', async () => {
    const db = ctx.open({ pool: { max: 4 } })
    const retried: unknown[] = []
    db.on('retry', (r) => retried.push(r.error))
    const bothLocked = barrier(2)
    const attempts = [0, 0]
    const transfer = (index: number, from: number, to: number): Promise<void> =>
      db.transaction(async (tx) => {
        attempts[index] = (attempts[index] ?? 0) + 1
        await tx.query(sql`UPDATE account SET balance = balance - 10 WHERE id = ${from}`)
        if (attempts[index] === 1) await bothLocked()
        await tx.query(sql`UPDATE account SET balance = balance + 10 WHERE id = ${to}`)
      })
    await Promise.all([transfer(0, 1, 2), transfer(1, 2, 1)])
    // A retry that starts at once can take the row before the waiting winner wakes and deadlock again: row locks are not
    // queued fairly across transactions. What holds: only deadlocks were retried, and each transfer applied exactly once.
    assert.ok(retried.length >= 1)
    for (const err of retried) assert.ok(err instanceof DeadlockDetectedError, `got ${String(err)}`)
    const balances = await ctx.admin<{ balance: number }>('SELECT balance FROM account ORDER BY id')
    assert.deepEqual(
      balances.map((b) => b.balance),
      [100, 100],
      'both transfers applied exactly once',
    )
  })

  it('savepoint rollback keeps the outer work; outer rollback undoes the savepoint', async () => {
    const db = ctx.open()
    await db.transaction(async (tx) => {
      await tx.query(sql`INSERT INTO notes (body) VALUES ('outer-1')`)
      await assert.rejects(
        tx.transaction(async (sp) => {
          await sp.query(sql`INSERT INTO notes (body) VALUES ('inner-1')`)
          await sp.query(sql`INSERT INTO notes (body) VALUES ('outer-1')`)
        }),
        UniqueViolationError,
      )
      // The transaction is usable again after the savepoint rolled back.
      await tx.query(sql`INSERT INTO notes (body) VALUES ('outer-2')`)
    })
    const kept = await ctx.admin<{ body: string }>(`SELECT body FROM notes WHERE body LIKE 'outer-%' OR body LIKE 'inner-%' ORDER BY body`)
    assert.deepEqual(
      kept.map((r) => r.body),
      ['outer-1', 'outer-2'],
    )

    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.transaction(async (sp) => {
          await sp.query(sql`INSERT INTO notes (body) VALUES ('inner-2')`)
        })
        // db.transaction inside a transaction is a savepoint too.
        await db.transaction(async (sp) => {
          await sp.query(sql`INSERT INTO notes (body) VALUES ('inner-3')`)
        })
        throw new Error('undo everything')
      }),
      /undo everything/,
    )
    assert.equal((await ctx.admin(`SELECT 1 FROM notes WHERE body IN ('inner-2', 'inner-3')`)).length, 0)
  })

  it('refuses to commit a transaction whose failed statement was swallowed by the callback', async () => {
    const db = ctx.open()
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO notes (body) VALUES ('swallowed')`)
        await tx.query(sql`SELECT 1/0`).catch(() => undefined)
      }),
      FailedTransactionError,
    )
    assert.equal((await ctx.admin(`SELECT 1 FROM notes WHERE body = 'swallowed'`)).length, 0)
    assert.equal(db.stats().idle, db.stats().total, 'connection back clean')
  })

  it('a failing hook is reported and never turns a commit into a failure', async () => {
    const db = ctx.open()
    const reported: unknown[] = []
    db.on('hookError', (e) => reported.push(e.error))
    const result = await db.transaction(async (tx) => {
      tx.afterCommit(() => {
        throw new Error('mailer down')
      })
      await tx.query(sql`INSERT INTO notes (body) VALUES ('hooked')`)
      return 'committed'
    })
    assert.equal(result, 'committed')
    assert.match(String(reported[0]), /mailer down/)
    assert.equal((await ctx.admin(`SELECT 1 FROM notes WHERE body = 'hooked'`)).length, 1)
  })

  it('nested transactions cannot change isolation; the error says how to get a separate one', async () => {
    const db = ctx.open()
    await db.transaction(async () => {
      await assert.rejects(
        db.transaction(async () => undefined, { isolation: 'serializable' }),
        (e: unknown) => e instanceof MisuseError && /savepoint.*independent: true/s.test(e.message),
      )
    })
  })

  it('raises AmbiguousCommitError when the connection dies during COMMIT, and does not retry', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    let calls = 0
    let retries = 0
    db.on('retry', () => retries++)
    const outcome = db
      .transaction(async (tx) => {
        calls++
        await tx.query(sql`INSERT INTO slow_commit VALUES (1)`)
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    await eventually(async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active' && /COMMIT/i.test(a.query)), 3_000, 'COMMIT running')
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'COMMIT%'`, [db.applicationName])
    const err = await outcome
    assert.ok(err instanceof AmbiguousCommitError, `got ${String(err)}`)
    assert.match(err.message, /may or may not have been committed/)
    assert.equal(calls, 1)
    assert.equal(retries, 0)
    assert.equal((await db.one<{ n: number }>(sql`SELECT 1 AS n`)).n, 1, 'the pool carries on')
  })
})
