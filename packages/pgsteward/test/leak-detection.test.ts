import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sql } from 'pgsteward'
import { setup, sleep } from './support.ts'

const ctx = await setup('leak')

describe('leak detection', () => {
  it("reports a connection held too long with the acquirer's stack, and its return", async () => {
    const db = ctx.open({ pool: { max: 2, leakDetectionMs: 100 } })
    const leaks: { heldMs: number; acquiredAt: string | undefined }[] = []
    const returned: number[] = []
    db.on('leak', (l) => leaks.push(l))
    db.on('leakReturned', (r) => returned.push(r.heldMs))
    await db.session(async function holdTooLong(s) {
      await s.query(sql`SELECT 1`)
      await sleep(250)
    })
    assert.equal(leaks.length, 1)
    assert.ok((leaks[0]?.heldMs ?? 0) >= 100)
    assert.match(leaks[0]?.acquiredAt ?? '', /holdTooLong|leak-detection\.test\.ts/)
    assert.equal(returned.length, 1)
    assert.ok((returned[0] ?? 0) >= 250)
    assert.equal(db.stats().counters.leaks, 1)
  })

  it('stays quiet for quick borrowers', async () => {
    const db = ctx.open({ pool: { max: 2, leakDetectionMs: 100 } })
    let leaks = 0
    db.on('leak', () => leaks++)
    for (let i = 0; i < 50; i++) await db.query(sql`SELECT 1`)
    await Promise.all(Array.from({ length: 20 }, () => db.query(sql`SELECT pg_sleep(0.01)`)))
    await sleep(150)
    assert.equal(leaks, 0)
  })
})
