/**
 * Prometheus metrics for one or more databases: `registerMetrics(db, registry)`. Gauges and
 * counters are read from `db.stats()` at scrape time (nothing on the hot path); the histograms
 * are fed by the acquire, release and query events (the query event makes each statement
 * timed). A Grafana dashboard for these metrics ships in the package:
 * `grafana/pgsteward-dashboard.json`. Every series has a `pool` label, so
 * several pools can share a registry. prom-client is an optional peer dependency, imported only
 * by this entry point (`pgsteward/metrics`).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Database } from './database.js'
import type { PoolCounters } from './pool/pool-events.js'

interface Registered {
  db: Database
  name: string
  /** Counter values already exported, so each scrape adds only the difference. */
  seen: Map<string, number>
}

interface RegistryMetrics {
  pools: Registered[]
}

const byRegistry = new WeakMap<Registry, RegistryMetrics>()

const WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30]
const HOLD_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]
/** The OpenTelemetry conventions' advice for statement durations, with a finer low end for pipelined one-shots. */
const QUERY_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]

const COUNTERS: { name: string; help: string; read: (c: PoolCounters) => number }[] = [
  { name: 'pgsteward_pool_acquisitions_total', help: 'Connections lent by the pool.', read: (c) => c.acquired },
  { name: 'pgsteward_pool_acquire_timeouts_total', help: 'Acquires that gave up after acquireTimeoutMs.', read: (c) => c.timeouts },
  { name: 'pgsteward_pool_connections_created_total', help: 'Server connections opened.', read: (c) => c.created },
  { name: 'pgsteward_pool_connect_failures_total', help: 'Failed attempts to open a server connection.', read: (c) => c.connectFailures },
  { name: 'pgsteward_pool_validation_failures_total', help: 'Idle connections found dead when validated before lending.', read: (c) => c.validationFailures },
  { name: 'pgsteward_pool_resets_total', help: 'Connections returned dirty and cleaned (rollback, cancel, session reset).', read: (c) => c.resets },
  { name: 'pgsteward_pool_leaks_total', help: 'Connections held longer than leakDetectionMs.', read: (c) => c.leaks },
  { name: 'pgsteward_transaction_retries_total', help: 'Transactions re-run after a serialization failure or deadlock.', read: (c) => c.retries },
  { name: 'pgsteward_transaction_hook_errors_total', help: 'afterCommit/afterRollback hooks that threw.', read: (c) => c.hookErrors },
]

function createMetrics(registry: Registry): RegistryMetrics {
  const state: RegistryMetrics = { pools: [] }
  const registers = [registry]
  new Gauge({
    name: 'pgsteward_pool_connections',
    help: 'Server connections by state.',
    labelNames: ['pool', 'state'],
    registers,
    collect() {
      for (const { db, name } of state.pools) {
        const s = db.stats()
        this.set({ pool: name, state: 'idle' }, s.idle)
        this.set({ pool: name, state: 'in_use' }, s.inUse)
        this.set({ pool: name, state: 'connecting' }, s.connecting)
      }
    },
  })
  new Gauge({
    name: 'pgsteward_pool_max_connections',
    help: 'Configured pool.max.',
    labelNames: ['pool'],
    registers,
    collect() {
      for (const { db, name } of state.pools) this.set({ pool: name }, db.stats().max)
    },
  })
  new Gauge({
    name: 'pgsteward_pool_waiting_requests',
    help: 'Acquires queued for a connection.',
    labelNames: ['pool'],
    registers,
    collect() {
      for (const { db, name } of state.pools) this.set({ pool: name }, db.stats().waiting)
    },
  })
  for (const spec of COUNTERS) {
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: ['pool'],
      registers,
      collect() {
        for (const p of state.pools) {
          const now = spec.read(p.db.stats().counters)
          const before = p.seen.get(spec.name) ?? 0
          if (now > before) this.inc({ pool: p.name }, now - before)
          else this.inc({ pool: p.name }, 0)
          p.seen.set(spec.name, now)
        }
      },
    })
  }
  new Counter({
    name: 'pgsteward_pool_connections_destroyed_total',
    help: 'Server connections closed, by reason.',
    labelNames: ['pool', 'reason'],
    registers,
    collect() {
      for (const p of state.pools) {
        for (const [reason, now] of Object.entries(p.db.stats().counters.destroyed)) {
          const key = `destroyed:${reason}`
          const before = p.seen.get(key) ?? 0
          this.inc({ pool: p.name, reason }, Math.max(0, now - before))
          p.seen.set(key, now)
        }
      }
    },
  })
  return state
}

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** Value of the `pool` label. (Default: the database's applicationName) */
  poolName?: string
}

/**
 * Export `db`'s pool metrics into `registry`. Call once per database; several databases may
 * share a registry, told apart by the `pool` label. Series: `pgsteward_pool_connections{state}`,
 * `pgsteward_pool_max_connections`, `pgsteward_pool_waiting_requests`, the `..._total` counters
 * (acquisitions, timeouts, connections created and destroyed by reason, connect and validation
 * failures, resets, leaks, transaction retries, hook errors) and the histograms
 * `pgsteward_pool_acquire_wait_seconds` and `pgsteward_pool_connection_hold_seconds`.
 * @throws Error when a pool of the same name is already registered in `registry`.
 * @example
 * ```ts
 * import { Registry } from 'prom-client'
 * import { registerMetrics } from 'pgsteward/metrics'
 *
 * const registry = new Registry()
 * registerMetrics(db, registry, { poolName: 'main' })
 * app.get('/metrics', async () => registry.metrics())
 * ```
 */
export function registerMetrics(db: Database, registry: Registry, options: MetricsOptions = {}): void {
  let metrics = byRegistry.get(registry)
  if (metrics === undefined) {
    metrics = createMetrics(registry)
    byRegistry.set(registry, metrics)
  }
  const name = options.poolName ?? db.options.applicationName
  if (metrics.pools.some((p) => p.name === name)) {
    throw new Error(`pgsteward metrics: a pool named "${name}" is already registered in this registry; pass a distinct poolName.`)
  }
  metrics.pools.push({ db, name, seen: new Map() })
  const waits = histogram(registry, 'pgsteward_pool_acquire_wait_seconds', 'Time acquirers waited for a connection.', WAIT_BUCKETS, ['pool'])
  const holds = histogram(registry, 'pgsteward_pool_connection_hold_seconds', 'Time connections were held before being returned.', HOLD_BUCKETS, ['pool'])
  const queries = histogram(
    registry,
    'pgsteward_query_duration_seconds',
    'Time statements took from the call to the answer (a wait for a connection included), by outcome (success or error).',
    QUERY_BUCKETS,
    ['pool', 'outcome'],
  )
  db.on('acquire', ({ waitedMs }) => waits.observe({ pool: name }, waitedMs / 1000))
  db.on('release', ({ heldMs }) => holds.observe({ pool: name }, heldMs / 1000))
  db.on('query', ({ durationMs, error }) => queries.observe({ pool: name, outcome: error === undefined ? 'success' : 'error' }, durationMs / 1000))
}

function histogram<L extends string>(registry: Registry, name: string, help: string, buckets: number[], labelNames: L[]): Histogram<L> {
  const existing = registry.getSingleMetric(name)
  if (existing) return existing as Histogram<L>
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] })
}
