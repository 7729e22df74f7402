/**
 * Regression (issue 13, defect 13): AmbiguousCommitError was raised when COMMIT was never sent
 * (the connection died before it) and for read-only transactions. Ambiguous means the server may
 * have committed; when it cannot have, the error is the connection error.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AdminShutdownError, AmbiguousCommitError, ConnectionLostError, sql, type Database } from 'pgsteward'
import { protocolTap } from './protocol-tap.ts'
import { eventually, setup } from './support.ts'

const ctx = await setup('commit_outcome')
await ctx.admin('CREATE TABLE ledger (id int PRIMARY KEY)')
const tap = await protocolTap(ctx.url)

function throughTap(applicationName: string): Database {
  return ctx.open({ applicationName, pool: { max: 1 } }, tap.url)
}

describe('what a lost COMMIT means', () => {
  it('lost after COMMIT left: ambiguous, and the server did commit', async () => {
    const db = throughTap('commit-sent')
    const err = await db
      .transaction(async (tx) => {
        await tx.query(sql`INSERT INTO ledger VALUES (${1})`)
        tap.cutAfterQuery('COMMIT')
      })
      .catch((e: unknown) => e)
    assert.ok(err instanceof AmbiguousCommitError, `got ${String(err)}`)
    await eventually(async () => (await ctx.admin('SELECT 1 FROM ledger WHERE id = 1')).length === 1, 10_000, 'the commit reached the server')
  })

  it('lost before COMMIT was sent: the connection error, never ambiguous, and nothing committed', async () => {
    const db = throughTap('commit-never-sent')
    const err = await db
      .transaction(async (tx) => {
        await tx.query(sql`INSERT INTO ledger VALUES (${2})`)
        await ctx.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'commit-never-sent'")
        // The backend is gone and this process has seen its socket close before the callback returns.
        await eventually(async () => (await ctx.activity('commit-never-sent')).length === 0, 10_000, 'backend gone')
        await tx.query(sql`SELECT 1`).catch(() => undefined)
      })
      .catch((e: unknown) => e)
    assert.ok(!(err instanceof AmbiguousCommitError), `got ${String(err)}`)
    assert.ok(err instanceof ConnectionLostError || err instanceof AdminShutdownError, `got ${String(err)}`)
    assert.deepEqual(await ctx.admin('SELECT 1 FROM ledger WHERE id = 2'), [])
  })

  it('a read-only transaction whose COMMIT is lost gets the connection error: it had nothing to commit', async () => {
    const db = throughTap('commit-read-only')
    const err = await db
      .transaction(
        async (tx) => {
          await tx.query(sql`SELECT count(*) FROM ledger`)
          tap.cutAfterQuery('COMMIT')
        },
        { readOnly: true },
      )
      .catch((e: unknown) => e)
    assert.ok(!(err instanceof AmbiguousCommitError), `got ${String(err)}`)
    assert.ok(err instanceof ConnectionLostError, `got ${String(err)}`)
  })
})
