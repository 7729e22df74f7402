/**
 * Issue 16, failover: a pool on `primary,standby` with target_session_attrs=read-write, against a
 * real primary and a real streaming standby. The primary goes away (fast shutdown, as a failover
 * does) and the standby is promoted with `pg_ctl promote`. Work in flight gets a typed error (an
 * interrupted COMMIT is ambiguous); work queued or issued during the failover completes on the
 * new primary without an error; nothing is lent to the old server again. A demoted server (one
 * whose sessions turn read-only) is left as its connections answer 25006.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { startReplicatedPair, withClient, type ReplicatedPair } from '@pgsteward/testkit'
import {
  AdminShutdownError,
  AmbiguousCommitError,
  ConnectionLostError,
  createDatabase,
  ReadOnlyTransactionError,
  sql,
  type Database,
  type DatabaseOptions,
} from 'pgsteward'
import { eventually, warm } from './support.ts'

const opened: Database[] = []
after(async () => {
  await Promise.all(opened.map((db) => db.close({ timeoutMs: 2_000 })))
})

/** A pool on `primary,standby` that must reach the server taking writes. */
function openOnPair(pair: ReplicatedPair, applicationName: string, options: Omit<DatabaseOptions, 'connectionString' | 'applicationName'> = {}): Database {
  const { username, password } = new URL(pair.primary.url)
  const url = `postgres://${username}:${password}@127.0.0.1:${pair.primary.port},127.0.0.1:${pair.standby.port}/postgres?target_session_attrs=read-write`
  const db = createDatabase({ connectionString: url, applicationName, ...options })
  opened.push(db)
  return db
}

async function admin<T>(url: string, text: string): Promise<T[]> {
  return withClient(url, async (c) => (await c.query(text)).rows as T[])
}

/** Sessions of `applicationName` on the server at `url` doing `what`, per pg_stat_activity. */
async function sessions(url: string, applicationName: string, where = 'true'): Promise<number> {
  const rows = await admin<{ n: string }>(url, `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${applicationName}' AND ${where}`)
  return Number(rows[0]?.n)
}

const isLost = (err: unknown): boolean => err instanceof AdminShutdownError || err instanceof ConnectionLostError

describe('failover to a promoted standby', () => {
  it('in-flight work fails typed, an interrupted COMMIT is ambiguous, queued and later work lands on the new primary without error', async () => {
    const pair = await startReplicatedPair()
    const P = pair.primary.port
    const S = pair.standby.port
    await admin(
      pair.primary.url,
      `CREATE TABLE writes (id int PRIMARY KEY, port int NOT NULL DEFAULT inet_server_port());
       CREATE TABLE slow_commit (id int);
       -- A deferred constraint trigger runs inside COMMIT: it holds COMMIT open until the server goes away.
       CREATE FUNCTION sleep_in_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(300); RETURN NULL; END $$;
       CREATE CONSTRAINT TRIGGER sleep_in_commit AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sleep_in_commit();`,
    )
    await pair.waitForReplay()

    const db = openOnPair(pair, 'failover', { pool: { max: 2, acquireTimeoutMs: 120_000 } })
    assert.deepEqual(await db.one(sql`SELECT inet_server_port() AS port`), { port: P })

    // In flight when the primary goes: a statement running, and a COMMIT running.
    const running = db
      .transaction(async (tx) => {
        await tx.query(sql`INSERT INTO writes (id) VALUES (${-1})`)
        await tx.query(sql`SELECT pg_sleep(300)`)
      })
      .then(
        () => 'committed',
        (e: unknown) => e,
      )
    const committing = db
      .transaction(async (tx) => {
        await tx.query(sql`INSERT INTO slow_commit VALUES (${1})`)
      })
      .then(
        () => 'committed',
        (e: unknown) => e,
      )
    await eventually(
      async () => (await sessions(pair.primary.url, 'failover', "wait_event = 'PgSleep'")) === 2,
      30_000,
      'both in-flight transactions sleeping on the primary',
    )
    assert.equal(await sessions(pair.primary.url, 'failover', "query = 'COMMIT'"), 1, 'one of them is inside COMMIT')

    // Queued: both connections are lent, so this waits in the pool when the failover starts.
    const queued = db.one<{ port: number }>(sql`INSERT INTO writes (id) VALUES (${0}) RETURNING port`)
    assert.equal(db.stats().waiting, 1)

    await pair.primary.stop()
    const runningErr = await running
    assert.ok(isLost(runningErr), `in flight: got ${String(runningErr)}`)
    const commitErr = await committing
    assert.ok(commitErr instanceof AmbiguousCommitError, `interrupted COMMIT: got ${String(commitErr)}`)
    assert.ok(isLost(commitErr.cause), `its cause is the lost connection: ${String(commitErr.cause)}`)

    // Issued while there is no primary at all: it waits (connecting with backoff) rather than failing.
    const during = Array.from({ length: 5 }, (_, i) => db.one<{ port: number }>(sql`INSERT INTO writes (id) VALUES (${i + 1}) RETURNING port`))
    await pair.promote()
    const after = Array.from({ length: 5 }, (_, i) => db.one<{ port: number }>(sql`INSERT INTO writes (id) VALUES (${i + 6}) RETURNING port`))

    // Every one of them completed without an error, on the new primary.
    const ports = await Promise.all([queued, ...during, ...after])
    assert.deepEqual(
      ports.map((r) => r.port),
      Array(11).fill(S),
    )
    const onNewPrimary = await admin<{ id: number }>(pair.standby.url, 'SELECT id FROM writes WHERE id >= 0 ORDER BY id')
    assert.deepEqual(
      onNewPrimary.map((r) => r.id),
      Array.from({ length: 11 }, (_, i) => i),
    )
    // From now on only the new primary is used, and the interrupted transactions left nothing behind.
    for (let i = 0; i < 10; i++)
      assert.deepEqual(await db.one(sql`SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby`), { port: S, standby: false })
    assert.deepEqual(await admin(pair.standby.url, 'SELECT id FROM writes WHERE id < 0 UNION ALL SELECT id FROM slow_commit'), [])
    assert.equal(db.stats().total, await sessions(pair.standby.url, 'failover'))
  })

  it('demotion: connections that answer 25006 are evicted, and the pool moves to the server that takes writes', async () => {
    // A real demotion of a running primary needs pg_rewind; this simulates one on the same server:
    // the primary's sessions turn read-only (ALTER SYSTEM default_transaction_read_only + reload),
    // and the standby is promoted, as in a switchover.
    const pair = await startReplicatedPair()
    const P = pair.primary.port
    const S = pair.standby.port
    await admin(pair.primary.url, 'CREATE TABLE writes (id int PRIMARY KEY, port int NOT NULL DEFAULT inet_server_port())')
    await pair.waitForReplay()
    const n = 4
    // No check after idle: an idle connection is lent as it is, so the first write meets the demoted server.
    const db = openOnPair(pair, 'demotion', { pool: { min: n, max: n, validateAfterIdleMs: 3_600_000, acquireTimeoutMs: 60_000 } })
    await warm(db)
    assert.equal(await sessions(pair.primary.url, 'demotion'), n)

    await admin(pair.primary.url, 'ALTER SYSTEM SET default_transaction_read_only = on')
    await admin(pair.primary.url, 'SELECT pg_reload_conf()')
    await pair.promote()

    // The first one-shot write reaches a pooled connection of the demoted server, which refuses it
    // (25006, nothing written): it is run again on a connection the pool checks, and succeeds.
    assert.deepEqual(await db.one(sql`INSERT INTO writes (id) VALUES (${0}) RETURNING port`), { port: S })
    // Every write lands on the new primary, and no connection to the old one is lent again.
    for (let i = 1; i <= 10; i++) {
      assert.deepEqual(await db.one(sql`INSERT INTO writes (id) VALUES (${i}) RETURNING port`), { port: S })
    }
    await eventually(async () => (await sessions(pair.primary.url, 'demotion')) === 0, 30_000, 'every connection to the demoted server closed')
    assert.equal(db.stats().counters.destroyed['wrong-server'], n)
    assert.notEqual(P, S)
  })

  it('demotion inside a transaction, retries allowed: it is re-run once on the server that takes writes, and commits there', async () => {
    const pair = await startReplicatedPair()
    await admin(pair.primary.url, 'CREATE TABLE writes (id int PRIMARY KEY, port int NOT NULL DEFAULT inet_server_port())')
    await pair.waitForReplay()
    const db = openOnPair(pair, 'demotion_rerun', { pool: { min: 1, max: 1, validateAfterIdleMs: 3_600_000, acquireTimeoutMs: 60_000 } })
    await warm(db)
    const retries: unknown[] = []
    db.on('retry', ({ error }) => retries.push(error))
    await admin(pair.primary.url, 'ALTER SYSTEM SET default_transaction_read_only = on')
    await admin(pair.primary.url, 'SELECT pg_reload_conf()')
    await pair.promote()
    let runs = 0
    const row = await db.transaction(async (tx) => {
      runs++
      return tx.one<{ port: number }>(sql`INSERT INTO writes (id) VALUES (${1}) RETURNING port`)
    })
    assert.deepEqual(row, { port: pair.standby.port }, 'committed on the promoted server')
    assert.equal(runs, 2, 'the callback ran again, as for a serialization failure')
    assert.equal(retries.length, 1)
    assert.ok(retries[0] instanceof ReadOnlyTransactionError, `re-run for ${String(retries[0])}`)
    assert.equal(db.stats().counters.destroyed['wrong-server'], 1)
    const onOld = await admin<{ n: number }>(pair.primary.url, 'SELECT count(*)::int AS n FROM writes')
    assert.equal(onOld[0]?.n, 0, 'nothing was written on the demoted server')
    const onNew = await admin<{ n: number }>(pair.standby.url, 'SELECT count(*)::int AS n FROM writes')
    assert.equal(onNew[0]?.n, 1)
  })

  it('demotion inside a transaction, retries off: the transaction fails with ReadOnlyTransactionError (its work is not re-run), the connection is evicted', async () => {
    const pair = await startReplicatedPair()
    await admin(pair.primary.url, 'CREATE TABLE writes (id int PRIMARY KEY, port int NOT NULL DEFAULT inet_server_port())')
    await pair.waitForReplay()
    const db = openOnPair(pair, 'demotion_tx', { pool: { min: 1, max: 1, validateAfterIdleMs: 3_600_000, acquireTimeoutMs: 60_000 }, retry: { max: 0 } })
    await warm(db)
    await admin(pair.primary.url, 'ALTER SYSTEM SET default_transaction_read_only = on')
    await admin(pair.primary.url, 'SELECT pg_reload_conf()')
    await pair.promote()
    const err = await db.transaction((tx) => tx.query(sql`INSERT INTO writes (id) VALUES (${1})`)).catch((e: unknown) => e)
    assert.ok(err instanceof ReadOnlyTransactionError, `got ${String(err)}`)
    assert.deepEqual(await db.one(sql`INSERT INTO writes (id) VALUES (${2}) RETURNING port`), { port: pair.standby.port })
    assert.equal(db.stats().counters.destroyed['wrong-server'], 1)
  })
})
