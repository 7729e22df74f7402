import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { sql } from 'pgsteward'
import { registerMetrics } from 'pgsteward/metrics'
import { setup } from './support.ts'

const ctx = await setup('metrics')

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((pair) => l.includes(pair)))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('Prometheus metrics', () => {
  it('exports gauges, counters and histograms per pool after known work', async () => {
    const registry = new Registry()
    // The limit also covers opening the first connection, which takes more than 100 ms on a loaded machine.
    const main = ctx.open({ pool: { max: 3, acquireTimeoutMs: 1_000 } })
    const other = ctx.open({ pool: { max: 2 } })
    registerMetrics(main, registry, { poolName: 'main' })
    registerMetrics(other, registry, { poolName: 'other' })
    for (let i = 0; i < 5; i++) await main.query(sql`SELECT 1`)
    await other.query(sql`SELECT 1`)
    // One timeout: hold all three, then ask for a fourth.
    let release: (() => void) | undefined
    const gate = new Promise<void>((r) => (release = r))
    const holders = [1, 2, 3].map(() => main.session(async () => gate))
    while (main.stats().inUse < 3) await new Promise((r) => setTimeout(r, 5))
    await assert.rejects(main.query(sql`SELECT 1`))
    release?.()
    await Promise.all(holders)
    const text = await registry.metrics()
    assert.equal(sample(text, 'pgsteward_pool_acquisitions_total', 'pool="main"'), 8)
    assert.equal(sample(text, 'pgsteward_pool_acquisitions_total', 'pool="other"'), 1)
    assert.equal(sample(text, 'pgsteward_pool_acquire_timeouts_total', 'pool="main"'), 1)
    assert.equal(sample(text, 'pgsteward_pool_connections_created_total', 'pool="main"'), 3)
    assert.equal(sample(text, 'pgsteward_pool_connections', 'pool="main",state="idle"'), 3)
    assert.equal(sample(text, 'pgsteward_pool_connections', 'pool="main",state="in_use"'), 0)
    assert.equal(sample(text, 'pgsteward_pool_max_connections', 'pool="other"'), 2)
    assert.equal(sample(text, 'pgsteward_pool_waiting_requests', 'pool="main"'), 0)
    assert.equal(sample(text, 'pgsteward_pool_acquire_wait_seconds_count', 'pool="main"'), 8)
    assert.equal(sample(text, 'pgsteward_pool_connection_hold_seconds_count', 'pool="main"'), 8)
    assert.equal(sample(text, 'pgsteward_pool_connections_destroyed_total', 'pool="main",reason="broken"'), 0)
    assert.match(text, /# TYPE pgsteward_pool_acquire_wait_seconds histogram/)
    // Counters only grow by what happened since the last scrape.
    await main.query(sql`SELECT 1`)
    assert.equal(sample(await registry.metrics(), 'pgsteward_pool_acquisitions_total', 'pool="main"'), 9)
    assert.throws(() => registerMetrics(other, registry, { poolName: 'main' }), /already registered/)
  })
})
