import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { startEmbeddedServer } from '@pgsteward/testkit'
import { createDatabase, ConnectionError, sql } from 'pgsteward'
import { eventually } from './support.ts'

// This file stops and starts a server, so it runs its own rather than the run's shared one.
const server = await startEmbeddedServer()
after(async () => {
  await server.stop({ removeData: true })
})

describe('server restart and outage', () => {
  it('survives a restart: the next 100 acquires succeed and the dead connections are counted', async () => {
    const db = createDatabase({ connectionString: server.url, pool: { max: 4, min: 4, validateAfterIdleMs: 60_000 } })
    const errors: unknown[] = []
    db.on('error', (e) => errors.push(e))
    try {
      await eventually(() => db.stats().idle === 4, 5_000, 'min filled')
      await server.stop()
      await server.start()
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => db.one<{ n: number }>(sql`SELECT ${i}::int AS n`)))
      assert.equal(results.length, 100)
      assert.deepEqual(
        results.map((r) => r.n),
        Array.from({ length: 100 }, (_, i) => i),
      )
      const { destroyed } = db.stats().counters
      assert.equal(destroyed.broken + destroyed.validation, 4, `destroyed: ${JSON.stringify(destroyed)}`)
    } finally {
      await db.close()
    }
  })

  it('health says down while the server is stopped and ok once it is back; waiters fail at their deadline with the connection error', async () => {
    const db = createDatabase({ connectionString: server.url, pool: { max: 2, acquireTimeoutMs: 400, connectTimeoutMs: 300 } })
    try {
      assert.equal((await db.health({ timeoutMs: 2_000 })).status, 'ok')
      await server.stop()
      const down = await db.health({ timeoutMs: 500 })
      assert.equal(down.status, 'down')
      const started = Date.now()
      const err = await db.query(sql`SELECT 1`).then(
        () => undefined,
        (e: unknown) => e,
      )
      const waited = Date.now() - started
      // Retried with backoff until its deadline, then told why: the connection error, not a pool timeout.
      assert.ok(err instanceof ConnectionError, `got ${String(err)}`)
      assert.ok(waited >= 380, `failed at its own deadline, not before (${waited} ms)`)
      assert.match(String((err.cause as Error | undefined)?.message), /ECONNREFUSED|connect|terminat/i)
      assert.match(err.message, /Could not connect to PostgreSQL at 127\.0\.0\.1:\d+/)
      assert.ok(db.stats().counters.connectFailures >= 1)
      await server.start()
      await eventually(async () => (await db.health({ timeoutMs: 1_000 })).status === 'ok', 10_000, 'healthy again')
      assert.equal((await db.one<{ n: number }>(sql`SELECT 1 AS n`)).n, 1)
    } finally {
      await db.close()
    }
  })
})
