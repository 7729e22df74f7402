import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MisuseError, sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('sql_tag')

describe('the sql tag', () => {
  it('sends values as parameters, never as text', () => {
    const evil = "'; DROP TABLE users; --"
    const q = sql`SELECT * FROM users WHERE name = ${evil} AND id = ${7}`.compile()
    assert.equal(q.text, 'SELECT * FROM users WHERE name = $1 AND id = $2')
    assert.deepEqual(q.values, [evil, 7])
  })

  it('composes fragments, numbering parameters across them', () => {
    const where = sql`a = ${1} AND b = ${2}`
    const q = sql`SELECT ${sql.identifier('public', 'my "table"')}.* FROM t WHERE ${where} OR c IN (${sql.join([3, 4, 5])})${sql.empty}`.compile()
    assert.equal(q.text, 'SELECT "public"."my ""table""".* FROM t WHERE a = $1 AND b = $2 OR c IN ($3, $4, $5)')
    assert.deepEqual(q.values, [1, 2, 3, 4, 5])
  })

  it('refuses undefined values and empty identifiers with the fix', () => {
    assert.throws(
      () => sql`SELECT ${undefined}`.compile(),
      (e: unknown) => e instanceof MisuseError && /pass null/.test(e.message),
    )
    assert.throws(() => sql.identifier(''), MisuseError)
  })

  it('round-trips hostile values through a real server unchanged', async () => {
    const db = ctx.open()
    const values = ["'; DROP TABLE x; --", 'emoji 🐘', 'back\\slash', '$1', null]
    for (const v of values) assert.equal((await db.one<{ v: string | null }>(sql`SELECT ${v}::text AS v`)).v, v)
    const table = 'weird "name"'
    await db.query(sql`CREATE TABLE ${sql.identifier(table)} (x int)`)
    await db.query(sql`INSERT INTO ${sql.identifier(table)} VALUES (${1})`)
    assert.equal((await db.one<{ x: number }>(sql`SELECT x FROM ${sql.identifier(table)}`)).x, 1)
  })
})
