import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { PoolTimeoutError, sql } from 'pgsteward'
import { registerMetrics } from 'pgsteward/metrics'
import { setup } from './support.ts'

const ctx = await setup('grafana')

interface Panel {
  id: number
  type: string
  title: string
  datasource?: { uid: string }
  targets?: { expr: string; datasource?: { uid: string } }[]
}

const dashboard = JSON.parse(await readFile(new URL('../grafana/pgsteward-dashboard.json', import.meta.url), 'utf8')) as {
  uid: string
  panels: Panel[]
  templating: { list: { name: string; query: string | { query: string } }[] }
}

/** Every query the dashboard runs: panel targets and template variables. */
function queries(): string[] {
  const fromPanels = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))
  const fromVariables = dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query)).filter((q) => q.includes('('))
  return [...fromPanels, ...fromVariables]
}

/** Sample names and the label names each carries, from Prometheus text. */
function scrapeIndex(text: string): Map<string, Set<string>> {
  const index = new Map<string, Set<string>>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?/.exec(line)
    if (match === null) continue
    const labels = index.get(match[1] as string) ?? new Set<string>()
    for (const pair of (match[2] ?? '').split(',')) if (pair.includes('=')) labels.add(pair.slice(0, pair.indexOf('=')))
    index.set(match[1] as string, labels)
  }
  return index
}

describe('the Grafana dashboard', () => {
  it('queries only metrics and labels a real scrape has', async () => {
    const registry = new Registry()
    const db = ctx.open({ pool: { max: 2, acquireTimeoutMs: 1_000, leakDetectionMs: 20 } })
    registerMetrics(db, registry, { poolName: 'main' })
    // Work that feeds every series: statements that succeed and fail, a leak, a timeout, a retry, a failing hook.
    await db.query(sql`SELECT 1`)
    await db.query(sql`SELECT 1 / ${0}::int`).catch(() => undefined)
    const leaked = new Promise<void>((resolve) => db.once('leak', () => resolve()))
    await db.session(() => leaked)
    let attempt = 0
    await db.transaction(
      async (tx) => {
        if (++attempt === 1) await tx.query(sql`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`)
        tx.afterCommit(() => {
          throw new Error('hook failed')
        })
      },
      { retry: { max: 1, baseDelayMs: 1, maxDelayMs: 1 } },
    )
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const holders = [db.session(() => gate), db.session(() => gate)]
    while (db.stats().inUse < 2) await new Promise((r) => setTimeout(r, 5))
    await assert.rejects(db.query(sql`SELECT 1`), PoolTimeoutError)
    release()
    await Promise.all(holders)

    const scraped = scrapeIndex(await registry.metrics())
    const used = new Set<string>()
    for (const query of queries()) {
      for (const [, name, selector] of query.matchAll(/\b(pgsteward_[a-z0-9_]+)(?:\{([^}]*)\})?/g)) {
        used.add(name as string)
        const labels = scraped.get(name as string)
        assert.ok(labels, `the dashboard queries ${name as string}, which the scrape lacks (query: ${query})`)
        for (const [, label] of (selector ?? '').matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)) {
          assert.ok(labels.has(label as string), `${name as string} has no label ${label as string} (query: ${query})`)
        }
        for (const [, by] of query.matchAll(/by \(([^)]*)\)/g)) {
          for (const label of (by as string).split(',').map((l) => l.trim())) {
            assert.ok(labels.has(label), `${name as string} has no label ${label} to group by (query: ${query})`)
          }
        }
      }
    }
    for (const family of [
      'pgsteward_query_duration_seconds_bucket',
      'pgsteward_pool_acquire_wait_seconds_bucket',
      'pgsteward_pool_connections',
      'pgsteward_pool_leaks_total',
    ]) {
      assert.ok(used.has(family), `the dashboard shows ${family}`)
    }
  })

  it('is importable: one datasource input, unique panel ids, every query on that datasource', () => {
    assert.equal(dashboard.uid, 'pgsteward-pool')
    const ids = dashboard.panels.map((p) => p.id)
    assert.equal(new Set(ids).size, ids.length)
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', panel.title)
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has a query`)
    }
  })

  it('has a query-duration histogram whose count matches the statements run', async () => {
    const registry = new Registry()
    const db = ctx.open()
    registerMetrics(db, registry, { poolName: 'q' })
    for (let i = 0; i < 4; i++) await db.query(sql`SELECT ${i}::int`)
    await db.query(sql`SELECT 1 / ${0}::int`).catch(() => undefined)
    const text = await registry.metrics()
    const count = (outcome: string): number =>
      Number(
        / (\d+)$/.exec(
          text
            .split('\n')
            .find((l) => l.startsWith('pgsteward_query_duration_seconds_count{') && l.includes('pool="q"') && l.includes(`outcome="${outcome}"`)) ?? '',
        )?.[1],
      )
    assert.equal(count('success'), 4)
    assert.equal(count('error'), 1)
    assert.match(text, /# TYPE pgsteward_query_duration_seconds histogram/)
  })
})
