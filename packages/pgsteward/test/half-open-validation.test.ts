/**
 * Regression (issue 13, defect 3): validating an idle connection had no deadline, so on a
 * half-open connection (peer gone, no FIN, no RST) `db.query` was still pending after 12 s with
 * `acquireTimeoutMs: 1000`. Every wait for a connection, validation included, ends by the
 * acquire deadline.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PoolTimeoutError, sql } from 'pgsteward'
import { protocolTap } from './protocol-tap.ts'
import { setup, sleep } from './support.ts'

const ctx = await setup('half_open')

describe('a half-open idle connection', () => {
  it('its validation is bounded by the acquire deadline: the caller gets PoolTimeoutError, not a hang', async () => {
    const tap = await protocolTap(ctx.url)
    const db = ctx.open({ pool: { max: 1, acquireTimeoutMs: 1_000, validateAfterIdleMs: 50, connectTimeoutMs: 30_000 } }, tap.url)
    await db.ready()
    tap.blackhole()
    // Idle longer than validateAfterIdleMs: the next borrower's connection is checked first.
    await sleep(100)
    const err = await db.query(sql`SELECT 1`).catch((e: unknown) => e)
    assert.ok(err instanceof PoolTimeoutError, `got ${String(err)}`)
    assert.ok(err.waitedMs >= 900, `gave up at its deadline, not before (${err.waitedMs} ms)`)
    assert.equal(db.stats().counters.validationFailures, 1, 'the dead connection failed its check and was replaced')
  })
})
