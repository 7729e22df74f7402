/**
 * Regression (issue 13, defect 5): session state reached the next borrower through forms the
 * detector missed, and failed statements were never checked. Whatever the form, and whether the
 * statement succeeded, failed or was aborted, the next borrower of the same (only) connection
 * must find no setting, temporary object, prepared statement, cursor, advisory lock or LISTEN.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sql, type Database } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('session_state')
await ctx.admin('CREATE TABLE item (id int PRIMARY KEY, label text); INSERT INTO item VALUES (1, $$a$$), (2, $$b$$)')

interface Leftovers {
  setting_a: string | null
  setting_b: string | null
  temp_x: string | null
  prepared: number
  cursors: number
  listening: number
  pid: number
}

/** What the next borrower of the database's only connection finds. */
async function leftovers(db: Database): Promise<Leftovers & { locks: number }> {
  const found = await db.one<Leftovers>(sql`SELECT current_setting('app.a', true) AS setting_a, current_setting('app.b', true) AS setting_b,
      to_regclass('pg_temp.x')::text AS temp_x, (SELECT count(*)::int FROM pg_prepared_statements WHERE name NOT LIKE 'pgsteward%') AS prepared,
      (SELECT count(*)::int FROM pg_cursors) AS cursors, (SELECT count(*)::int FROM pg_listening_channels()) AS listening, pg_backend_pid() AS pid`)
  const [locks] = await ctx.admin<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1`, [found.pid])
  return { ...found, locks: locks?.n ?? -1 }
}

function clean(found: Leftovers & { locks: number }): void {
  // A custom setting that was set once reads '' after a reset; it must never read the value.
  assert.ok(found.setting_a === null || found.setting_a === '', `app.a leaked: ${String(found.setting_a)}`)
  assert.ok(found.setting_b === null || found.setting_b === '', `app.b leaked: ${String(found.setting_b)}`)
  assert.equal(found.temp_x, null, 'temporary table left behind')
  assert.equal(found.prepared, 0, 'prepared statement left behind')
  assert.equal(found.cursors, 0, 'cursor left open')
  assert.equal(found.listening, 0, 'LISTEN left on')
  assert.equal(found.locks, 0, 'session advisory lock still held')
}

const FORMS: [string, string][] = [
  ['create table pg_temp.x', 'CREATE TABLE pg_temp.x (n int)'],
  ['create temp table ... as', 'CREATE TEMP TABLE x AS SELECT 1 AS n'],
  ['select ... into temp', 'SELECT 1 AS n INTO TEMP x'],
  ['several statements in one string', "SET LOCAL app.a = '1'; SET app.b = '2'"],
  ["set_config inside an UPDATE's WHERE", "UPDATE item SET label = label WHERE set_config('app.a', '1', false) IS NOT NULL"],
  ['set_config inside a WITH', "WITH s AS (SELECT set_config('app.b', '2', false)) SELECT * FROM s"],
  ['insert ... select pg_advisory_lock(k)', 'INSERT INTO item SELECT 100, l::text FROM pg_advisory_lock(43) AS l ON CONFLICT (id) DO NOTHING'],
  ['a session advisory lock taken by a statement that then failed', 'SELECT pg_advisory_lock(44), 1/0'],
  ['PREPARE', 'PREPARE leak AS SELECT 1'],
  ['DECLARE ... WITH HOLD', 'DECLARE leak CURSOR WITH HOLD FOR SELECT 1'],
  ['LISTEN', 'LISTEN leak'],
  ['a DO block that sets', "DO $$ BEGIN PERFORM set_config('app.a', '1', false); END $$"],
]

describe('the next borrower never sees session state left by the previous one', () => {
  for (const [name, text] of FORMS) {
    it(`${name}: as a one-shot statement`, async () => {
      const db = ctx.open({ pool: { max: 1 } })
      await db.query(sql.unsafe(text)).catch(() => undefined)
      clean(await leftovers(db))
    })

    it(`${name}: inside a session`, async () => {
      const db = ctx.open({ pool: { max: 1 } })
      await db.session(async (s) => {
        await s.query(sql.unsafe(text)).catch(() => undefined)
      })
      clean(await leftovers(db))
    })
  }

  it('an advisory lock taken by a statement cancelled by its timeout does not stay and block everyone on that key', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const err = await db.query(sql`SELECT pg_advisory_lock(45), pg_sleep(5)`, { timeoutMs: 300 }).catch((e: unknown) => e)
    assert.ok(err instanceof Error)
    clean(await leftovers(db))
    // Someone else can take the lock now.
    const [other] = await ctx.admin<{ got: boolean }>('SELECT pg_try_advisory_lock(45) AS got')
    assert.equal(other?.got, true)
  })

  it('a plain statement costs no reset: the statement cache survives it', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await db.one(sql`SELECT label FROM item WHERE id = ${1}`)
    await db.one(sql`SELECT label FROM item WHERE id = ${2}`)
    const { prepared } = await db.one<{ prepared: number }>(sql`SELECT count(*)::int AS prepared FROM pg_prepared_statements WHERE name LIKE 'pgsteward%'`)
    assert.ok(prepared >= 1, 'the cached statement is still prepared')
    assert.equal(db.stats().counters.resets, 0)
  })
})
