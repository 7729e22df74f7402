import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sql } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('health')

describe('health', () => {
  it('is ok with a real round trip and reports the server version', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    const report = await db.health({ timeoutMs: 2_000 })
    assert.equal(report.status, 'ok')
    assert.ok(report.latencyMs > 0)
    const version = (await ctx.admin<{ server_version: string }>('SHOW server_version'))[0]?.server_version
    assert.equal(report.server.version, version)
    assert.equal(report.pool.inUse, 0)
    assert.equal(db.stats().counters.acquired, 1, 'the check went through the pool')
  })

  it('is degraded while the pool is saturated and requests queue', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    let release: (() => void) | undefined
    const held = db.session(() => new Promise<void>((r) => (release = r)))
    while (release === undefined) await new Promise((r) => setTimeout(r, 5))
    const pending = db.health({ timeoutMs: 2_000 })
    setTimeout(() => release?.(), 100)
    const report = await pending
    await held
    assert.equal(report.status, 'degraded')
    assert.match(report.reason ?? '', /in use|waiting/)
  })

  it('is down, without throwing, when no connection can be had in time', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    let release: (() => void) | undefined
    const held = db.session(() => new Promise<void>((r) => (release = r)))
    while (release === undefined) await new Promise((r) => setTimeout(r, 5))
    const report = await db.health({ timeoutMs: 200 })
    assert.equal(report.status, 'down')
    assert.match(report.reason ?? '', /did not finish within its timeoutMs/)
    release?.()
    await held
    assert.equal((await db.health()).status, 'ok')
    await db.query(sql`SELECT 1`)
  })
})
