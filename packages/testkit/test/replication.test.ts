import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { describe, test } from 'node:test'
import pg from 'pg'
import { startReplicatedPair, withClient } from '@pgsteward/testkit'

async function refusesConnections(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.end()
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED'
  }
}

/** Pairs the tests leave running: their `after` hooks must stop them. */
const leftRunning: { ports: number[]; dirs: string[] } = { ports: [], dirs: [] }
function leave(pair: { primary: { port: number; dataDir: string }; standby: { port: number; dataDir: string } }): void {
  leftRunning.ports.push(pair.primary.port, pair.standby.port)
  leftRunning.dirs.push(pair.primary.dataDir, pair.standby.dataDir)
}

describe('replicated pair', () => {
  test('the standby streams the primary, refuses writes, and takes writes once promoted', async () => {
    const pair = await startReplicatedPair()
    assert.notEqual(pair.primary.port, pair.standby.port)

    // The primary sees its standby streaming through the slot.
    const streaming = await withClient(pair.primary.url, async (c) => {
      const { rows } = await c.query<{ state: string }>("select state from pg_stat_replication where application_name = 'pgsteward_standby'")
      return rows.map((r) => r.state)
    })
    assert.deepEqual(streaming, ['streaming'])

    await withClient(pair.primary.url, (c) =>
      c.query("create table notes (id int primary key, body text); insert into notes values (1, 'written on the primary')"),
    )
    const replayed = await pair.waitForReplay()
    assert.match(replayed, /^[0-9A-F]+\/[0-9A-F]+$/)
    await withClient(pair.standby.url, async (c) => {
      assert.deepEqual((await c.query('select pg_is_in_recovery() as recovery')).rows, [{ recovery: true }])
      assert.deepEqual((await c.query('select id, body from notes')).rows, [{ id: 1, body: 'written on the primary' }])
      await assert.rejects(c.query("insert into notes values (2, 'on the standby')"), (error: { code?: string }) => error.code === '25006')
    })

    // Failover: the primary goes away, the standby is promoted and takes writes.
    await pair.primary.stop()
    assert.equal(pair.primary.running, false)
    assert.equal(await refusesConnections(pair.primary.url), true)
    await pair.promote()
    await withClient(pair.standby.url, async (c) => {
      assert.deepEqual((await c.query('select pg_is_in_recovery() as recovery')).rows, [{ recovery: false }])
      await c.query("insert into notes values (2, 'written after promotion')")
      assert.deepEqual((await c.query('select id from notes order by id')).rows, [{ id: 1 }, { id: 2 }])
    })

    await pair.stop()
    assert.equal(await refusesConnections(pair.standby.url), true)
    await assert.rejects(access(pair.primary.dataDir))
    await assert.rejects(access(pair.standby.dataDir))
    await pair.stop() // idempotent
  })

  test('a restarted standby catches up with what the primary wrote meanwhile; waitForReplay bounds its wait', async () => {
    const pair = await startReplicatedPair()
    leave(pair)
    await withClient(pair.primary.url, (c) => c.query('create table counter (n int)'))
    await pair.standby.stop()
    assert.equal(pair.standby.running, false)
    const lsn = await withClient(pair.primary.url, async (c) => {
      await c.query('insert into counter select generate_series(1, 1000)')
      return (await c.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn
    })
    await pair.standby.start()
    assert.equal(pair.standby.running, true)
    await pair.waitForReplay(lsn)
    await withClient(pair.standby.url, async (c) => {
      assert.deepEqual((await c.query('select count(*)::int as n from counter')).rows, [{ n: 1000 }])
    })
    // A position far beyond anything the primary has written: the timeout error says what it saw.
    // (The first probe always completes before the deadline is checked, so there is an observation.)
    await assert.rejects(
      pair.waitForReplay('FF/0', { timeoutMs: 500 }),
      /Timed out after 500 ms waiting for the standby to replay WAL up to FF\/0 \(replayed [0-9A-F]+\/[0-9A-F]+, WAL receiver [a-z ]+\)/,
    )
  })

  test('pairs the tests left running were stopped and removed by their after hooks', async () => {
    assert.equal(leftRunning.ports.length, 2)
    for (const port of leftRunning.ports)
      assert.equal(await refusesConnections(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`), true, `port ${port}`)
    for (const dir of leftRunning.dirs) await assert.rejects(access(dir), dir)
  })
})
