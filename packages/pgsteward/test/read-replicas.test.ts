/**
 * Issue 16, read replicas with read-your-writes, on a real primary and a real streaming standby.
 * Reads run on the standby; a read never misses a write it must see (made earlier in the same
 * async context, or named by a token passed from another request), even while the standby's
 * replay is paused (`pg_wal_replay_pause()`): it goes to the primary, or waits within
 * `replicaWaitMs`. A standby that is gone sends reads to the primary.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { startReplicatedPair, withClient } from '@pgsteward/testkit'
import { ConfigError, createDatabase, MisuseError, sql, WriteTokenError, type Database, type DatabaseOptions } from 'pgsteward'
import { eventually } from './support.ts'

const pair = await startReplicatedPair()
await withClient(pair.primary.url, (c) => c.query('CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL)'))
await pair.waitForReplay()

const opened: Database[] = []
after(async () => {
  await Promise.all(opened.map((db) => db.close({ timeoutMs: 2_000 })))
})

function open(options: Omit<DatabaseOptions, 'connectionString' | 'replicas'> = {}): Database {
  const db = createDatabase({ connectionString: pair.primary.url, replicas: [pair.standby.url], ...options })
  opened.push(db)
  return db
}

const onStandby = (url: string, text: string): Promise<unknown> => withClient(url, (c) => c.query(text))

/** Pause the standby's replay: it keeps receiving WAL, and applies none of it until resumed. */
async function pauseReplay(): Promise<void> {
  await onStandby(pair.standby.url, 'SELECT pg_wal_replay_pause()')
  await eventually(
    async () =>
      (await withClient(pair.standby.url, (c) => c.query<{ state: string }>('SELECT pg_get_wal_replay_pause_state() AS state'))).rows[0]?.state === 'paused',
    10_000,
    'replay paused',
  )
}
const resumeReplay = (): Promise<unknown> => onStandby(pair.standby.url, 'SELECT pg_wal_replay_resume()')

/** Where a read ran, and whether it saw post `id`. */
async function readPost(db: Database, id: number, after?: string): Promise<{ standby: boolean; title: string | null }> {
  return db.read(
    async (tx) => {
      const where = await tx.one<{ standby: boolean }>(sql`SELECT pg_is_in_recovery() AS standby`)
      // db.query inside the read joins it: same server, same transaction.
      const post = await db.maybeOne<{ title: string }>(sql`SELECT title FROM posts WHERE id = ${id}`)
      return { standby: where.standby, title: post?.title ?? null }
    },
    { after },
  )
}

/** A write in an async context of its own (another request): the caller's context does not see it. */
async function inAnotherRequest<T>(work: () => Promise<T>): Promise<T> {
  await Promise.resolve() // from here on, a continuation of its own: what it writes stays in its own context
  return work()
}

describe('read replicas with read-your-writes', () => {
  it('reads run on the standby, in a read-only transaction; writes on the primary', async () => {
    const db = open()
    assert.deepEqual(db.options.replicas, [[{ host: '127.0.0.1', port: pair.standby.port }]])
    for (let i = 0; i < 5; i++) {
      const row = await db.read((tx) =>
        tx.one<{ standby: boolean; ro: string; port: number }>(
          sql`SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') AS ro, inet_server_port() AS port`,
        ),
      )
      assert.deepEqual(row, { standby: true, ro: 'on', port: pair.standby.port })
    }
    assert.deepEqual(await db.one(sql`SELECT pg_is_in_recovery() AS standby`), { standby: false })
    const stats = db.readStats()
    assert.equal(stats.onReplica, 5)
    assert.equal(stats.replicas[0]?.reads, 5)
    assert.equal(stats.replicas[0]?.down, false)
  })

  it('a write then a read in the same context never reads stale, even with the standby paused; resumed, reads return to it', async () => {
    const db = open()
    await pauseReplay()
    try {
      await db.transaction((tx) => tx.query(sql`INSERT INTO posts VALUES (${1}, ${'first'})`))
      // The standby cannot have it: the read goes to the primary, and sees it.
      assert.deepEqual(await readPost(db, 1), { standby: false, title: 'first' })
      // One-shot writes count too.
      await db.query(sql`UPDATE posts SET title = ${'edited'} WHERE id = ${1}`)
      assert.deepEqual(await readPost(db, 1), { standby: false, title: 'edited' })
      assert.equal(db.readStats().onPrimaryBehind, 2)
    } finally {
      await resumeReplay()
    }
    await pair.waitForReplay()
    assert.deepEqual(await readPost(db, 1), { standby: true, title: 'edited' })
  })

  it('writes through db.asPgPool() (Kysely, Drizzle, pg code) count as writes of the context too', async () => {
    const db = open()
    const pool = db.asPgPool()
    await pauseReplay()
    try {
      await pool.query('INSERT INTO posts VALUES ($1, $2)', [10, 'through pool.query'])
      assert.deepEqual(await readPost(db, 10), { standby: false, title: 'through pool.query' })
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('UPDATE posts SET title = $1 WHERE id = $2', ['through a client', 10])
        await client.query('COMMIT')
        // Read before the client is released: its COMMIT has settled, so the read must see it.
        assert.deepEqual(await readPost(db, 10), { standby: false, title: 'through a client' })
      } finally {
        client.release()
      }
    } finally {
      await resumeReplay()
    }
  })

  it('with replicaWaitMs a read waits for the standby to catch up rather than go to the primary', async () => {
    const db = open({ replicaWaitMs: 120_000 })
    await pauseReplay()
    let resumed = false
    try {
      await db.transaction((tx) => tx.query(sql`INSERT INTO posts VALUES (${2}, ${'second'})`))
      const read = readPost(db, 2)
      // Still waiting while replay is paused: the read has not settled.
      const early = await Promise.race([read.then(() => 'settled'), new Promise((resolve) => setTimeout(resolve, 300, 'waiting'))])
      assert.equal(early, 'waiting')
      await resumeReplay()
      resumed = true
      assert.deepEqual(await read, { standby: true, title: 'second' })
      assert.equal(db.readStats().onPrimaryBehind, 0)
    } finally {
      if (!resumed) await resumeReplay()
    }
  })

  it('a token passed across requests: the other request reads the write, never stale', async () => {
    const db = open()
    await pair.waitForReplay()
    await pauseReplay()
    try {
      // Request A writes and hands out a token (a cookie, a header).
      const token = await inAnotherRequest(async () => {
        await db.transaction((tx) => tx.query(sql`INSERT INTO posts VALUES (${3}, ${'third'})`))
        return db.writeToken()
      })
      assert.match(token, /^[0-9A-F]+\/[0-9A-F]+$/)
      // Request B did not write: without the token it reads the paused standby, which lacks the post.
      assert.deepEqual(await readPost(db, 3), { standby: true, title: null })
      // With the token it is served where the post is visible.
      assert.deepEqual(await readPost(db, 3, token), { standby: false, title: 'third' })
    } finally {
      await resumeReplay()
    }
    const token = await db.writeToken()
    await pair.waitForReplay(token)
    assert.deepEqual(await readPost(db, 3, token), { standby: true, title: 'third' })
  })

  it('under concurrent writers, every read of its own write finds it (on the standby or the primary)', async () => {
    const db = open({ replicaWaitMs: 5 })
    const writers = 8
    const rounds = 25
    const stale: string[] = []
    await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        inAnotherRequest(async () => {
          for (let r = 0; r < rounds; r++) {
            const id = 1_000 + w * rounds + r
            await db.query(sql`INSERT INTO posts VALUES (${id}, ${`w${w}r${r}`})`)
            const seen = await readPost(db, id)
            if (seen.title !== `w${w}r${r}`) stale.push(`${id} on ${seen.standby ? 'standby' : 'primary'}`)
          }
        }),
      ),
    )
    assert.deepEqual(stale, [])
    const stats = db.readStats()
    assert.equal(stats.onReplica + stats.onPrimaryBehind + stats.onPrimaryDown, writers * rounds)
  })

  it('a token that is not one is a WriteTokenError (a client sent garbage: answer 400); writeToken inside a transaction is refused', async () => {
    const db = open()
    for (const bad of ['', 'not-a-token', '0/0; drop table posts', 42]) {
      await assert.rejects(
        db.read((tx) => tx.one(sql`SELECT 1 AS n`), { after: bad as string }),
        WriteTokenError,
      )
    }
    await assert.rejects(
      db.transaction(() => db.writeToken()),
      (err: unknown) => err instanceof MisuseError && /after the transaction/.test(err.message),
    )
    assert.throws(
      () => createDatabase({ connectionString: pair.primary.url, replicaWaitMs: 10 }),
      (err: unknown) => err instanceof ConfigError && /no replicas are given/.test(err.message),
    )
    assert.throws(
      () => createDatabase({ connectionString: pair.primary.url, replicas: ['postgres://h1:5432,h2/db?frobnicate=1'] }),
      (err: unknown) => err instanceof ConfigError && /replicas\[0\]: frobnicate/.test(err.message),
    )
  })

  it('db.health() checks the standby too: gone, the report is degraded (not down) and names it; back, ok', async () => {
    const db = open()
    const before = await db.health({ timeoutMs: 5_000 })
    assert.equal(before.status, 'ok', JSON.stringify(before))
    assert.equal(before.replicas?.length, 1)
    assert.equal(before.replicas?.[0]?.status, 'ok')
    assert.ok(before.replicas?.[0]?.server.includes(String(pair.standby.port)), before.replicas?.[0]?.server)
    assert.ok(!before.replicas?.[0]?.server.includes(new URL(pair.standby.url).password), 'no password in the report')
    await pair.standby.stop()
    try {
      const gone = await db.health({ timeoutMs: 2_000 })
      assert.equal(gone.status, 'degraded', JSON.stringify(gone))
      assert.equal(gone.replicas?.[0]?.status, 'down')
      assert.match(gone.reason ?? '', /standby .* down/)
      // The primary itself answered: its own pool is unharmed.
      assert.deepEqual(await db.one(sql`SELECT 1 AS ok`), { ok: 1 })
    } finally {
      await pair.standby.start()
    }
    await eventually(async () => (await db.health({ timeoutMs: 2_000 })).status === 'ok', 30_000, 'healthy again once the standby is back')
  })

  it('the standby gone: reads fall back to the primary; back, reads return to it', async () => {
    const db = open()
    assert.deepEqual(await readPost(db, 1), { standby: true, title: 'edited' })
    await pair.standby.stop()
    try {
      for (let i = 0; i < 3; i++) assert.deepEqual(await readPost(db, 1), { standby: false, title: 'edited' })
      const stats = db.readStats()
      assert.equal(stats.onPrimaryDown, 3)
      assert.equal(stats.replicas[0]?.down, true)
    } finally {
      await pair.standby.start()
    }
    // Within a second of coming back (the down mark), reads go to it again.
    await eventually(async () => (await readPost(db, 1)).standby, 30_000, 'reads back on the standby')
  })
})
