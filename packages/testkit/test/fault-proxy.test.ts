import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import pg from 'pg'
import { createTestDatabase, freePort, startFaultProxy, waitFor, withClient, type FaultProxy } from '@pgsteward/testkit'

// Top level, not in before(): node:test runs `after` hooks registered inside a `before` hook as
// soon as that hook returns, and createTestDatabase drops its database in one.
const databaseUrl = await createTestDatabase('fault_proxy')
const admin = new pg.Client({ connectionString: databaseUrl, application_name: 'fault-proxy-admin' })
// The database's own after hook (registered first, so run first) drops it WITH (FORCE), which
// terminates this connection: heard here, not as an uncaught error after the tests.
admin.on('error', () => undefined)
await admin.connect()
after(async () => {
  await admin.end()
})

/**
 * Whether `promise` is still unsettled after `ms`. On a loaded machine the wait can only be longer,
 * which can only make a forwarded answer more likely to have arrived: the check cannot fail
 * because the machine is slow.
 */
async function stillPendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false
  const watched = promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  let timer: NodeJS.Timeout | undefined
  await Promise.race([watched, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
  return !settled
}

async function connectThrough(url: string, applicationName: string): Promise<{ client: pg.Client; pid: number; errors: Error[]; ended: () => boolean }> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName })
  const errors: Error[] = []
  let ended = false
  client.on('error', (error) => errors.push(error))
  client.on('end', () => (ended = true))
  await client.connect()
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
  return { client, pid: rows[0]!.pid, errors, ended: () => ended }
}

async function backend(pid: number): Promise<{ state: string; query: string; wait_event_type: string | null } | undefined> {
  const { rows } = await admin.query<{ state: string; query: string; wait_event_type: string | null }>(
    'select state, query, wait_event_type from pg_stat_activity where pid = $1',
    [pid],
  )
  return rows[0]
}

let leftOpen: FaultProxy | undefined

describe('fault proxy', () => {
  test('forwards queries and counts connections', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    leftOpen = proxy
    assert.notEqual(proxy.port, new URL(databaseUrl).port)
    assert.equal(new URL(proxy.url).pathname, new URL(databaseUrl).pathname)
    const { client, pid } = await connectThrough(proxy.url, 'fault-proxy-forward')
    assert.equal((await backend(pid))?.query, 'select pg_backend_pid() as pid')
    assert.deepEqual((await client.query('select 1 + 1 as two')).rows, [{ two: 2 }])
    assert.equal(proxy.accepted, 1)
    assert.equal(proxy.live, 1)
    await client.end()
    await waitFor(() => proxy.live === 0, { what: 'the proxy to see the connection closed' })
    assert.equal(proxy.accepted, 1)
  })

  test('blackhole: a query never reaches the server and the socket stays open; resume delivers it', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    const { client, pid, errors, ended } = await connectThrough(proxy.url, 'fault-proxy-blackhole')
    proxy.blackhole()
    assert.equal(proxy.blackholed, true)
    const answer = client.query<{ answer: number }>('select 42 as answer')
    assert.equal(await stillPendingAfter(answer, 300), true, 'the query was answered through a blackholed proxy')
    // The server never heard of it: the backend is idle, its last statement the one before.
    assert.deepEqual(await backend(pid).then((b) => ({ state: b?.state, query: b?.query })), { state: 'idle', query: 'select pg_backend_pid() as pid' })
    // No FIN, no RST reached the client.
    assert.deepEqual(errors, [])
    assert.equal(ended(), false)
    assert.equal(proxy.live, 1)
    proxy.resume()
    assert.deepEqual((await answer).rows, [{ answer: 42 }])
    await client.end()
  })

  test("blackhole: the server's answer is held back from the client until resume", async () => {
    const proxy = await startFaultProxy(databaseUrl)
    const { client, pid } = await connectThrough(proxy.url, 'fault-proxy-blackhole-reply')
    // The statement waits on a lock we hold, so the proxy is blackholed while the server works on it.
    await admin.query('select pg_advisory_lock(4242)')
    const answer = client.query<{ x: number }>('select pg_advisory_xact_lock(4242), 7 as x')
    await waitFor(async () => (await backend(pid))?.wait_event_type === 'Lock', { what: 'the proxied statement to wait on the lock' })
    proxy.blackhole()
    await admin.query('select pg_advisory_unlock(4242)')
    await waitFor(async () => (await backend(pid))?.state === 'idle', { what: 'the server to finish the statement and send the answer' })
    assert.equal(await stillPendingAfter(answer, 300), true, "the server's answer went through a blackholed proxy")
    proxy.resume()
    assert.deepEqual(
      (await answer).rows.map((r) => r.x),
      [7],
    )
    await client.end()
  })

  test('a connection opened while blackholed reaches the server only after resume', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    proxy.blackhole()
    const client = new pg.Client({ connectionString: proxy.url, application_name: 'fault-proxy-late' })
    client.on('error', () => undefined)
    const connecting = client.connect()
    await waitFor(() => proxy.accepted === 1, { what: 'the proxy to accept the connection' })
    assert.equal(await stillPendingAfter(connecting, 300), true, 'connected through a blackholed proxy')
    const { rows } = await admin.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'fault-proxy-late'")
    assert.equal(rows[0]?.n, 0)
    proxy.resume()
    await connecting
    assert.deepEqual((await client.query('select 3 as three')).rows, [{ three: 3 }])
    await client.end()
  })

  test('resetAll: a hanging query fails with ECONNRESET and the server loses the backend', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    const { client, pid } = await connectThrough(proxy.url, 'fault-proxy-reset')
    proxy.blackhole()
    const query = client.query('select 1')
    assert.equal(await stillPendingAfter(query, 100), true)
    proxy.resetAll()
    await assert.rejects(query, (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET')
    assert.equal(proxy.live, 0)
    // The reset went upstream too: the backend is gone, not left waiting for a client that left.
    await waitFor(async () => (await backend(pid)) === undefined, { what: `backend ${pid} to exit after the reset` })
    await client.end().catch(() => undefined)
  })

  test('resetAll on an idle connection: the client hears ECONNRESET at once', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    const { client, errors } = await connectThrough(proxy.url, 'fault-proxy-reset-idle')
    proxy.resetAll()
    const error = await waitFor(() => errors[0], { what: 'the client to report the reset' })
    assert.equal((error as NodeJS.ErrnoException).code, 'ECONNRESET')
    await client.end().catch(() => undefined)
  })

  test('refuse: new connections fail at once, live ones keep working; accept lets them in again', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    const live = await connectThrough(proxy.url, 'fault-proxy-refuse-live')
    proxy.refuse()
    const refused = new pg.Client({ connectionString: proxy.url, application_name: 'fault-proxy-refused' })
    refused.on('error', () => undefined)
    await assert.rejects(refused.connect(), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET' || /terminated unexpectedly/.test(error.message))
    assert.equal(proxy.refused, 1)
    assert.equal(proxy.accepted, 1)
    assert.deepEqual((await live.client.query('select 5 as five')).rows, [{ five: 5 }])
    proxy.accept()
    const again = await connectThrough(proxy.url, 'fault-proxy-accepted')
    assert.equal(proxy.accepted, 2)
    await again.client.end()
    await live.client.end()
  })

  test('close: live connections end and the port refuses', async () => {
    const proxy = await startFaultProxy(databaseUrl)
    const { client, errors, ended } = await connectThrough(proxy.url, 'fault-proxy-close')
    await proxy.close()
    await waitFor(() => ended() || errors.length > 0, { what: 'the client to see the proxy close' })
    const late = new pg.Client({ connectionString: proxy.url })
    late.on('error', () => undefined)
    await assert.rejects(late.connect(), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED')
    await proxy.close() // idempotent
    await client.end().catch(() => undefined)
  })

  test('a target that refuses: the client is reset', async () => {
    // A port nothing listens on: a proxy whose server is down.
    const deadTarget = new URL(databaseUrl)
    deadTarget.port = String(await freePort())
    const dangling = await startFaultProxy(deadTarget.toString())
    const client = new pg.Client({ connectionString: dangling.url })
    client.on('error', () => undefined)
    await assert.rejects(client.connect(), (error: NodeJS.ErrnoException) => error.code === 'ECONNRESET' || /terminated unexpectedly/.test(error.message))
    await withClient(databaseUrl, async (c) => assert.equal((await c.query('select 1 as ok')).rows[0].ok, 1))
  })

  test('a proxy a test left open was closed by its after hook', async () => {
    assert.ok(leftOpen)
    const client = new pg.Client({ connectionString: leftOpen.url })
    client.on('error', () => undefined)
    await assert.rejects(client.connect(), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED')
  })
})
