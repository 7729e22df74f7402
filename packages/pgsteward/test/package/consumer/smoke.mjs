// What a user does first with the installed package, on plain Node and nothing else: import every
// entry point, then a query, a transaction, the pg.Pool drop-in with a cursor, and the metrics.
// Run by consumer.test.ts inside a fresh project; it prints one JSON line and must print nothing
// on stderr (a deprecation warning from pg would reach every user).
import assert from 'node:assert/strict'

const url = process.env.SMOKE_DATABASE_URL
const table = process.env.SMOKE_TABLE
const entryPoints = JSON.parse(process.env.SMOKE_ENTRY_POINTS ?? '[]')
assert.ok(url && table && entryPoints.length > 0, 'SMOKE_DATABASE_URL, SMOKE_TABLE and SMOKE_ENTRY_POINTS are set by the test')

const exported = {}
for (const name of entryPoints) {
  const module = await import(name)
  exported[name] = Object.keys(module).sort()
  assert.ok(exported[name].length > 0, `${name} exports nothing`)
}

const { createDatabase, sql, UniqueViolationError } = await import('pgsteward')
const { Pool } = await import('pgsteward/pg')
const { registerMetrics } = await import('pgsteward/metrics')
const { Registry } = await import('prom-client')
const { default: Cursor } = await import('pg-cursor')

const db = createDatabase({ connectionString: url, applicationName: table, pool: { max: 2 } })
const { answer } = await db.one(sql`SELECT ${41}::int + 1 AS answer`)
assert.equal(answer, 42)

const notes = sql.identifier(table)
await db.query(sql`CREATE TABLE ${notes} (id int PRIMARY KEY, body text NOT NULL)`)
let committed = 0
await db.transaction(async (tx) => {
  await tx.query(sql`INSERT INTO ${notes} VALUES (1, 'kept')`)
  tx.afterCommit(() => {
    committed++
  })
})
await assert.rejects(
  db.transaction(async (tx) => {
    await tx.query(sql`INSERT INTO ${notes} VALUES (2, 'rolled back')`)
    await tx.query(sql`INSERT INTO ${notes} VALUES (1, 'duplicate')`)
  }),
  (err) => err instanceof UniqueViolationError && err.code === 'UNIQUE_VIOLATION',
)
const rows = await db.many(sql`SELECT id, body FROM ${notes} ORDER BY id`)
assert.deepEqual(rows, [{ id: 1, body: 'kept' }])
assert.equal(committed, 1)

const registry = new Registry()
registerMetrics(db, registry, { poolName: 'smoke' })
assert.match(await registry.metrics(), /pgsteward_pool_max_connections\{pool="smoke"\} 2/)
await db.close()

const pool = new Pool({ connectionString: url, application_name: table, max: 2 })
const { rows: greeting } = await pool.query('SELECT $1::text AS greeting', ['hello'])
assert.deepEqual(greeting, [{ greeting: 'hello' }])
const client = await pool.connect()
let batches
try {
  await client.query('BEGIN')
  const cursor = client.query(new Cursor('SELECT n FROM generate_series(1, 10) AS n'))
  batches = [await cursor.read(4), await cursor.read(100)].map((batch) => batch.map((row) => row.n))
  await cursor.close()
  await client.query('COMMIT')
} finally {
  client.release()
}
assert.deepEqual(batches, [
  [1, 2, 3, 4],
  [5, 6, 7, 8, 9, 10],
])
await pool.end()

console.log(JSON.stringify({ node: process.version, exported }))
