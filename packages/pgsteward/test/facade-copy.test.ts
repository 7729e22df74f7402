import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, it } from 'node:test'
import { from as copyFrom, to as copyTo } from 'pg-copy-streams'
import { sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('facade_copy')
await ctx.admin('CREATE TABLE measurement (id int PRIMARY KEY, reading text NOT NULL)')

/** Tab-separated rows for COPY ... FROM STDIN, in several chunks so the stream really streams. */
function rows(from: number, count: number): Readable {
  const lines = Array.from({ length: count }, (_, i) => `${from + i}\treading ${from + i}\n`)
  const chunks: string[] = []
  for (let i = 0; i < lines.length; i += 50) chunks.push(lines.slice(i, i + 50).join(''))
  return Readable.from(chunks)
}

/** Everything a COPY ... TO STDOUT stream produces, as text. */
async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = []
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        parts.push(chunk)
        done()
      },
    }),
  )
  return Buffer.concat(parts).toString('utf8')
}

async function storedIds(min: number, max: number): Promise<number[]> {
  const found = await ctx.admin<{ id: number }>('SELECT id FROM measurement WHERE id BETWEEN $1 AND $2 ORDER BY id', [min, max])
  return found.map((r) => r.id)
}

describe('COPY through the pg facade (pg-copy-streams)', () => {
  it('COPY FROM STDIN on a checked-out client loads every row; the client runs the next query at once and goes back clean', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const client = await pool.connect()
    const ingest = client.query(copyFrom('COPY measurement (id, reading) FROM STDIN'))
    await pipeline(rows(1, 500), ingest)
    assert.equal(ingest.rowCount, 500)
    const after = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM measurement WHERE id BETWEEN 1 AND 500')
    assert.equal(after.rows[0]?.n, 500)
    client.release()
    assert.equal((await storedIds(1, 500)).length, 500)
    assert.equal(db.stats().idle, 1, 'the connection is idle again, not held for cleaning')
    assert.equal(db.stats().counters.destroyed.unclean + db.stats().counters.destroyed.broken, 0, 'and was not thrown away')
  })

  it('COPY TO STDOUT through pool.query streams the table out and returns the connection', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const text = await collect(pool.query(copyTo('COPY (SELECT id, reading FROM measurement WHERE id BETWEEN 1 AND 3 ORDER BY id) TO STDOUT')))
    assert.equal(text, '1\treading 1\n2\treading 2\n3\treading 3\n')
    // The only connection is free for the next caller.
    assert.equal((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1)
    assert.equal(db.stats().counters.destroyed.unclean + db.stats().counters.destroyed.broken, 0)
  })

  it('COPY FROM STDIN through pool.query outside any scope commits on its own', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const ingest = pool.query(copyFrom('COPY measurement (id, reading) FROM STDIN'))
    await pipeline(rows(1001, 20), ingest)
    assert.deepEqual(
      await storedIds(1001, 1020),
      Array.from({ length: 20 }, (_, i) => 1001 + i),
    )
  })

  it('inside db.transaction, COPY FROM and COPY TO run on the transaction: the rows are visible to it and gone after its rollback', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    const pool = db.asPgPool()
    await assert.rejects(
      db.transaction(async (tx) => {
        await pipeline(rows(2001, 100), pool.query(copyFrom('COPY measurement (id, reading) FROM STDIN')))
        const client = await pool.connect()
        const exported = await collect(client.query(copyTo('COPY (SELECT count(*) FROM measurement WHERE id BETWEEN 2001 AND 2100) TO STDOUT')))
        client.release()
        assert.equal(exported, '100\n', 'COPY TO on the joined client sees the uncommitted rows')
        const seen = await tx.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM measurement WHERE id BETWEEN 2001 AND 2100`)
        assert.equal(seen.n, 100)
        throw new Error('undo the load')
      }),
      /undo the load/,
    )
    assert.deepEqual(await storedIds(2001, 2100), [])
    assert.equal(db.stats().inUse, 0)
  })

  it('inside db.transaction, a committed COPY FROM stays', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    await db.transaction(async () => {
      const client = await pool.connect()
      await pipeline(rows(3001, 10), client.query(copyFrom('COPY measurement (id, reading) FROM STDIN')))
      client.release()
    })
    assert.equal((await storedIds(3001, 3010)).length, 10)
  })

  it('a COPY FROM whose data the server rejects fails its stream, loads nothing, and leaves the client usable', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const client = await pool.connect()
    const ingest = client.query(copyFrom('COPY measurement (id, reading) FROM STDIN'))
    await assert.rejects(pipeline(Readable.from(['4001\tfine\n', 'not-a-number\tbad\n']), ingest), /invalid input syntax for type integer/)
    assert.equal((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1)
    client.release()
    assert.deepEqual(await storedIds(4001, 4001), [])
  })

  it('a COPY FROM stream destroyed by the application aborts the COPY (CopyFail) and loads nothing', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const pool = db.asPgPool()
    const client = await pool.connect()
    const ingest = client.query(copyFrom('COPY measurement (id, reading) FROM STDIN'))
    ingest.write('5001\tpartial\n')
    const failed = new Promise<Error>((resolve) => ingest.on('error', resolve))
    ingest.destroy(new Error('the upload was cancelled'))
    assert.match((await failed).message, /the upload was cancelled/)
    assert.equal((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1)
    client.release()
    assert.deepEqual(await storedIds(5001, 5001), [])
  })
})
