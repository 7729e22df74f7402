/**
 * Regression (issue 13, defects 11 and 12): a value that could not be serialised in a later
 * statement of a transaction hung `db.transaction` forever and kept its connection (node-postgres
 * wrote Parse but no Sync when binding threw); 65,536 parameters wrapped to 0 at 16 bits; a Symbol
 * or a function was sent as text. Values are now converted before anything is written.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ParameterError, TooManyParametersError, sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('parameters')
await ctx.admin('CREATE TABLE thing (id int PRIMARY KEY, payload jsonb)')

function deepArray(depth: number): unknown {
  let value: unknown = [1]
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

const circular: Record<string, unknown> = { name: 'loop' }
circular.self = circular

const UNSENDABLE: [string, unknown][] = [
  [
    'a throwing toJSON',
    {
      toJSON: () => {
        throw new Error('secret-toJSON-value')
      },
    },
  ],
  [
    'a throwing toPostgres',
    {
      toPostgres: () => {
        throw new Error('secret-toPostgres-value')
      },
    },
  ],
  ['a circular object', circular],
  ['an object holding a BigInt', { n: 10n }],
  ['an array nested 100,000 deep', deepArray(100_000)],
  ['a Symbol', Symbol('s')],
  ['a function', () => 'source text'],
]

describe('a value that cannot be sent', () => {
  for (const [name, value] of UNSENDABLE) {
    it(`${name}, in the second statement of a transaction: typed error naming its position, rollback, connection back`, async () => {
      const db = ctx.open({ pool: { max: 1 } })
      const err = await db
        .transaction(async (tx) => {
          await tx.query(sql`INSERT INTO thing VALUES (${1}, ${'{}'})`)
          await tx.query(sql`UPDATE thing SET payload = ${value} WHERE id = ${1}`)
        })
        .catch((e: unknown) => e)
      assert.ok(err instanceof ParameterError, `got ${String(err)}`)
      assert.equal(err.position, 1)
      assert.match(err.message, /Parameter \$1 cannot be sent/)
      assert.doesNotMatch(err.message, /secret-/, 'says why, not what the value said')
      assert.deepEqual(await ctx.admin('SELECT * FROM thing'), [], 'the first statement was rolled back')
      assert.equal(db.stats().inUse, 0, 'the connection is back')
      assert.equal(db.stats().counters.destroyed.broken + db.stats().counters.destroyed.unclean, 0, 'and was not destroyed')
      assert.deepEqual(await db.one(sql`SELECT ${2}::int AS n`), { n: 2 })
    })
  }

  it('three such transactions do not exhaust a pool of three', async () => {
    const db = ctx.open({ pool: { max: 3, acquireTimeoutMs: 5_000 } })
    const failures = await Promise.all(
      [1, 2, 3].map((id) =>
        db
          .transaction(async (tx) => {
            await tx.query(sql`SELECT ${id}::int`)
            await tx.query(sql`SELECT ${circular}::jsonb`)
          })
          .catch((e: unknown) => e),
      ),
    )
    assert.ok(failures.every((e) => e instanceof ParameterError))
    assert.equal((await Promise.all([1, 2, 3].map((n) => db.one<{ n: number }>(sql`SELECT ${n}::int AS n`)))).length, 3)
  })

  it('as a one-shot statement: typed error, nothing sent, the pool untouched', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const err = await db.query(sql`SELECT ${1}::int, ${Symbol('x')}::text`).catch((e: unknown) => e)
    assert.ok(err instanceof ParameterError && err.position === 2, `got ${String(err)}`)
    assert.equal(db.stats().counters.acquired, 0, 'it failed before borrowing a connection')
  })
})

describe('the protocol limit on parameters', () => {
  it('65,536 parameters fail with a typed error naming the 65,535 limit, before anything is sent', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const values = Array.from({ length: 65_536 }, (_, i) => i)
    const err = await db.query(sql`SELECT ${sql.join(values)}`).catch((e: unknown) => e)
    assert.ok(err instanceof TooManyParametersError, `got ${String(err)}`)
    assert.equal(err.count, 65_536)
    assert.match(err.message, /at most 65,535/)
    assert.deepEqual(await db.one(sql`SELECT ${3}::int AS n`), { n: 3 })
  })

  it('65,535 parameters are sent', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const values = Array.from({ length: 65_535 }, () => 1)
    const row = await db.one<{ n: number }>(sql`SELECT cardinality(ARRAY[${sql.join(values)}]::int[]) AS n`)
    assert.equal(row.n, 65_535)
  })
})
