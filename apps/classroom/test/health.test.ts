/**
 * /health tells a busy service from a dead database, on a server of the test's own that it fills
 * up and stops: pool saturated 200 degraded (busy: pool); pool saturated and the server at its
 * connection limit 200 degraded (busy: server); server stopped 503 down; started again 200 ok.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { startEmbeddedServer, urlFor, waitFor, withClient } from '@pgsteward/testkit'
import { sql } from 'pgsteward'
import { startService } from './support.ts'

const POOL_MAX = 3
const MAX_CONNECTIONS = 6
// No reserved slots: the probe (a superuser here) meets the same limit as everyone.
const server = await startEmbeddedServer({ settings: { max_connections: MAX_CONNECTIONS, superuser_reserved_connections: 0 } })
await withClient(server.url, (c) => c.query('CREATE DATABASE classroom'))
const service = await startService({ databaseUrl: urlFor('classroom', server.url), env: { DB_POOL_MAX: String(POOL_MAX) } })
// After the service's own clean-up (hooks run in the order they were added).
after(() => server.stop({ removeData: true }))

/** Hold every pooled connection in a transaction until the returned function is called. */
async function saturatePool(): Promise<() => Promise<void>> {
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => (release = resolve))
  let started = 0
  const holders = Array.from({ length: POOL_MAX }, () =>
    service.db.transaction(async (tx) => {
      await tx.query(sql`SELECT 1`)
      started++
      await held
    }),
  )
  await waitFor(() => started === POOL_MAX, { what: 'every pooled connection held' })
  return async () => {
    release()
    await Promise.all(holders)
  }
}

describe('/health: busy is not down', () => {
  it('answers 200 ok when idle', async () => {
    const health = await service.request('GET', '/health')
    assert.equal(health.status, 200, JSON.stringify(health.body))
    assert.equal(health.body.status, 'ok')
  })

  it('answers 200 degraded (busy: pool) while every pooled connection is held in a transaction', async () => {
    const release = await saturatePool()
    try {
      const health = await service.request('GET', '/health')
      assert.equal(health.status, 200, JSON.stringify(health.body))
      assert.equal(health.body.status, 'degraded')
      assert.equal(health.body.busy, 'pool')
    } finally {
      await release()
    }
    assert.equal((await service.request('GET', '/health')).body.status, 'ok')
  })

  it('answers 200 degraded (busy: server) when the server also refuses new connections for its limit', async () => {
    const release = await saturatePool()
    const others: pg.Client[] = []
    try {
      // Fill the server's remaining slots, until it refuses with "too many clients".
      for (;;) {
        const client = new pg.Client({ connectionString: server.url })
        client.on('error', () => undefined)
        try {
          await client.connect()
        } catch (err) {
          assert.equal((err as { code?: string }).code, '53300', String(err))
          break
        }
        others.push(client)
        assert.ok(others.length <= MAX_CONNECTIONS, 'the server never refused a connection')
      }
      const health = await service.request('GET', '/health')
      assert.equal(health.status, 200, JSON.stringify(health.body))
      assert.equal(health.body.status, 'degraded')
      assert.equal(health.body.busy, 'server')
    } finally {
      await Promise.all(others.map((c) => c.end()))
      await release()
    }
  })

  it('answers 503 down while the server is stopped, and 200 again once it is back', async () => {
    await server.stop()
    try {
      const down = await service.request('GET', '/health')
      assert.equal(down.status, 503, JSON.stringify(down.body))
      assert.equal(down.body.status, 'down')
      assert.ok(down.headers.get('retry-after'))
    } finally {
      await server.start()
    }
    await waitFor(async () => (await service.request('GET', '/health')).status === 200, { what: '/health 200 after the restart' })
  })
})
