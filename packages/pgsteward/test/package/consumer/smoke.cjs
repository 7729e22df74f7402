// The same package from CommonJS: require() of every entry point (Node's require of ES modules,
// no flag on the supported versions) and one query. Run by consumer.test.ts in a fresh project.
'use strict'
const assert = require('node:assert/strict')

const url = process.env.SMOKE_DATABASE_URL
const entryPoints = JSON.parse(process.env.SMOKE_ENTRY_POINTS ?? '[]')
assert.ok(url && entryPoints.length > 0, 'SMOKE_DATABASE_URL and SMOKE_ENTRY_POINTS are set by the test')

const exported = {}
for (const name of entryPoints) {
  exported[name] = Object.keys(require(name)).sort()
  assert.ok(exported[name].length > 0, `${name} exports nothing`)
}

const { createDatabase, sql } = require('pgsteward')
const { Pool } = require('pgsteward/pg')
assert.equal(typeof Pool, 'function')

async function main() {
  const db = createDatabase({ connectionString: url, pool: { max: 1 } })
  try {
    const { answer } = await db.one(sql`SELECT ${6}::int * 7 AS answer`)
    assert.equal(answer, 42)
  } finally {
    await db.close()
  }
  console.log(JSON.stringify({ node: process.version, exported }))
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
