import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { createTestDatabase, pgbouncerOrSkip, PGBOUNCER_MISSING, waitFor, withClient } from '@pgsteward/testkit'

const databaseUrl = await createTestDatabase('pgbouncer')
const database = new URL(databaseUrl).pathname.slice(1)

const clients: pg.Client[] = []
async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  clients.push(client)
  await client.connect()
  return client
}
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
})

async function pid(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid
}

/** Server backends of our test database (PgBouncer's server connections among them). */
async function backends(): Promise<number> {
  return withClient(databaseUrl, async (c) => {
    const { rows } = await c.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database])
    return rows[0]!.n
  })
}

/** PgBouncers the tests leave running: their `after` hooks must stop them. */
const leftRunning: Array<{ port: number; dir: string }> = []

async function refuses(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      resolve(false)
    })
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
}

describe('PgBouncer', () => {
  test('transaction mode: a backend serves whichever client has a transaction, not one client', async (t) => {
    const bouncer = await pgbouncerOrSkip(t, { target: databaseUrl, defaultPoolSize: 2 })
    if (!bouncer) return
    leftRunning.push(bouncer)
    t.diagnostic(`PgBouncer ${bouncer.version}, max_prepared_statements in effect: ${bouncer.maxPreparedStatements}`)
    assert.match(bouncer.version, /^\d+\.\d+/)
    assert.equal(bouncer.poolMode, 'transaction')
    const a = await connect(bouncer.url)
    const b = await connect(bouncer.url)

    await a.query('begin')
    const firstOfA = await pid(a)
    await a.query('commit')
    // A's backend went back to the pool at COMMIT: B's transaction gets it (the pool's only idle one).
    await b.query('begin')
    const ofB = await pid(b)
    assert.equal(ofB, firstOfA, 'B did not get the backend A released: not transaction pooling')
    // While B holds it, A's next transaction runs on another backend.
    await a.query('begin')
    const secondOfA = await pid(a)
    assert.notEqual(secondOfA, firstOfA, 'A kept its backend across transactions: session pooling')
    await Promise.all([a.query('commit'), b.query('commit')])
    // Everything went through PgBouncer's two server connections to our database.
    assert.equal(await backends(), 2)
  })

  test('session mode keeps a client on its backend', async (t) => {
    const bouncer = await pgbouncerOrSkip(t, { target: databaseUrl, poolMode: 'session', defaultPoolSize: 2 })
    if (!bouncer) return
    leftRunning.push(bouncer)
    assert.equal(bouncer.poolMode, 'session')
    const a = await connect(bouncer.url)
    const b = await connect(bouncer.url)
    const firstOfA = await pid(a)
    const ofB = await pid(b)
    assert.notEqual(ofB, firstOfA)
    assert.equal(await pid(a), firstOfA)
  })

  test('the admin console answers, and stop() ends PgBouncer, its server connections and its directory', async (t) => {
    const bouncer = await pgbouncerOrSkip(t, { target: databaseUrl, defaultPoolSize: 3, settings: { server_idle_timeout: 600 } })
    if (!bouncer) return
    const client = await connect(bouncer.url)
    assert.deepEqual((await client.query('select 1 as one')).rows, [{ one: 1 }])
    const console_ = await connect(bouncer.adminUrl)
    const pools = await console_.query<{ database: string; pool_mode: string }>('SHOW POOLS')
    assert.ok(
      pools.rows.some((row) => row.database === database && row.pool_mode === 'transaction'),
      JSON.stringify(pools.rows),
    )
    await console_.end()
    assert.ok((await backends()) >= 1)
    assert.match(await bouncer.log(), /process up|listening on/)

    await bouncer.stop()
    await bouncer.stop() // idempotent
    assert.equal(await refuses(bouncer.port), true)
    await waitFor(async () => (await backends()) === 0, { what: "PgBouncer's server connections to close" })
    await assert.rejects(access(bouncer.dir))
    await assert.rejects(client.query('select 1'))
  })

  test('without the binary the test is reported skipped with the install command', async () => {
    // A test file run with PGSTEWARD_PGBOUNCER naming no binary, as on a machine without PgBouncer.
    const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'pgbouncer-missing.ts')
    // Without NODE_TEST_CONTEXT, which our own runner sets and which would make the child report to it, not to stdout.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', fixture], {
      env: { ...env, PGSTEWARD_PGBOUNCER: '/nonexistent/pgbouncer' },
    })
    assert.ok(stdout.includes(`# SKIP ${PGBOUNCER_MISSING}`), stdout)
    assert.match(stdout, /# skipped 1/)
    assert.match(stdout, /# fail 0/)
  })

  test('PgBouncers the tests left running were stopped by their after hooks', async (t) => {
    if (leftRunning.length === 0) return t.skip(PGBOUNCER_MISSING)
    assert.equal(leftRunning.length, 2)
    for (const { port, dir } of leftRunning) {
      assert.equal(await refuses(port), true, `port ${port}`)
      await assert.rejects(access(dir), dir)
    }
    await waitFor(async () => (await backends()) === 0, { what: "PgBouncer's server connections to close" })
  })
})
