import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, AggregationTemporality, type MetricData } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { Kysely, PostgresDialect } from 'kysely'
import { PoolTimeoutError, sql } from 'pgsteward'
import { instrumentDatabase } from 'pgsteward/opentelemetry'
import { internalsOf } from '../dist/database-internals.js'
import { setup } from './support.ts'

const ctx = await setup('opentelemetry')
const contextManager = new AsyncLocalStorageContextManager()

before(async () => {
  context.setGlobalContextManager(contextManager.enable())
  await ctx.admin('CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)')
  await ctx.admin(`INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`)
})
after(() => {
  contextManager.disable()
  context.disable()
})

function tracing(): { provider: BasicTracerProvider; exporter: InMemorySpanExporter; spans: () => ReadableSpan[] } {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  return { provider, exporter, spans: () => exporter.getFinishedSpans() }
}

/** Run `fn` inside an active span of the application's own, as a request handler would. */
async function inRequest<T>(provider: BasicTracerProvider, fn: () => Promise<T>): Promise<{ result: T; request: Span }> {
  return provider.getTracer('app').startActiveSpan('GET /users', async (request) => {
    try {
      return { result: await fn(), request }
    } finally {
      request.end()
    }
  })
}

/** A session holding its connection until released. */
function hold(db: { session(fn: () => Promise<void>): Promise<void> }): { release: () => void; done: Promise<void> } {
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (release = resolve))
  return { release: () => release(), done: db.session(() => gate) }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId
const idOf = (span: ReadableSpan | Span): string => span.spanContext().spanId
const named = (spans: ReadableSpan[], name: string): ReadableSpan[] => spans.filter((s) => s.name === name)

describe('OpenTelemetry spans', () => {
  it('names a statement by its summary, with the conventions attributes, under the caller span', async () => {
    const { provider, spans } = tracing()
    const db = ctx.open()
    instrumentDatabase(db, { tracerProvider: provider, metrics: false })
    const { request } = await inRequest(provider, () => db.query(sql`SELECT * FROM users WHERE id = ${2} AND name <> ${'secret-value'}`))
    const [span] = named(spans(), 'SELECT users')
    assert.ok(
      span,
      `spans: ${spans()
        .map((s) => s.name)
        .join(', ')}`,
    )
    assert.equal(span.kind, SpanKind.CLIENT)
    assert.equal(parentOf(span), idOf(request))
    const { hosts, database } = db.options
    assert.deepEqual(
      { ...span.attributes, 'pgsteward.connection.id': undefined },
      {
        'db.system.name': 'postgresql',
        'db.namespace': database,
        'server.address': hosts[0]?.host,
        'server.port': hosts[0]?.port,
        'db.query.text': 'SELECT * FROM users WHERE id = $1 AND name <> $2',
        'db.query.summary': 'SELECT users',
        'db.operation.name': 'SELECT',
        'pgsteward.scope': 'one-shot',
        'pgsteward.via': 'pgsteward',
        'pgsteward.connection.id': undefined,
      },
    )
    assert.equal(typeof span.attributes['pgsteward.connection.id'], 'number')
    assert.equal(span.status.code, SpanStatusCode.UNSET)
    assert.doesNotMatch(JSON.stringify(spans().map((s) => s.attributes)), /secret-value/)
  })

  it('names the facade statements by their SQL, never by a prepared-statement name, and redacts spliced literals', async () => {
    const { provider, spans } = tracing()
    const db = ctx.open()
    instrumentDatabase(db, { tracerProvider: provider, metrics: false })
    const pool = db.asPgPool()
    await inRequest(provider, async () => {
      await pool.query({ name: 'users_by_id', text: 'SELECT name FROM users WHERE id = $1', values: [1] })
      await pool.query("SELECT name FROM users WHERE name = 'secret-literal'")
      await new Kysely<{ users: { id: number; name: string } }>({ dialect: new PostgresDialect({ pool }) })
        .selectFrom('users')
        .selectAll()
        .where('id', '=', 1)
        .execute()
    })
    const statements = spans().filter((s) => s.attributes['pgsteward.via'] === 'pg-facade')
    assert.deepEqual(
      statements.map((s) => [s.name, s.attributes['db.query.text'], s.attributes['db.operation.name']]),
      [
        ['SELECT users', 'SELECT name FROM users WHERE id = $1', 'SELECT'],
        ['SELECT users', 'SELECT name FROM users WHERE name = ?', 'SELECT'],
        ['select "users"', 'select * from "users" where "id" = $1', 'SELECT'],
      ],
    )
    assert.doesNotMatch(JSON.stringify(spans().map((s) => [s.name, s.attributes])), /users_by_id|pgsteward_\d|secret-literal/)
  })

  it('shows each transaction attempt as a span with its statements, and the retry as an event', async () => {
    const { provider, spans } = tracing()
    const db = ctx.open()
    instrumentDatabase(db, { tracerProvider: provider, metrics: false })
    let attempt = 0
    const { request } = await inRequest(provider, () =>
      db.transaction(
        async (tx) => {
          attempt++
          if (attempt === 1) await tx.query(sql`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`)
          // A span of the application's own inside the transaction keeps its statements.
          await provider.getTracer('app').startActiveSpan('load user', async (own) => {
            await tx.query(sql`UPDATE users SET name = name WHERE id = ${1}`)
            own.end()
          })
          return tx.one(sql`SELECT count(*) FROM users`)
        },
        { isolation: 'serializable', retry: { max: 2, baseDelayMs: 1, maxDelayMs: 1 } },
      ),
    )
    const all = spans()
    const [transaction] = named(all, 'transaction')
    assert.ok(transaction)
    assert.equal(parentOf(transaction), idOf(request))
    assert.equal(transaction.status.code, SpanStatusCode.UNSET, 'a retried failure is not the transaction failure')
    assert.equal(transaction.attributes['pgsteward.transaction.attempts'], 2)
    assert.equal(transaction.attributes['pgsteward.transaction.isolation'], 'serializable')
    assert.deepEqual(
      transaction.events.map((e) => [e.name, e.attributes?.['pgsteward.transaction.attempt'], e.attributes?.['error.type']]),
      [['pgsteward.transaction.retry', 1, '40001']],
    )
    const attempts = named(all, 'transaction attempt').sort(
      (a, b) => Number(a.attributes['pgsteward.transaction.attempt']) - Number(b.attributes['pgsteward.transaction.attempt']),
    )
    assert.equal(attempts.length, 2)
    assert.ok(attempts.every((a) => parentOf(a) === idOf(transaction)))
    const [first, second] = attempts as [ReadableSpan, ReadableSpan]
    assert.equal(first.status.code, SpanStatusCode.ERROR)
    assert.equal(first.attributes['error.type'], '40001')
    assert.equal(second.status.code, SpanStatusCode.UNSET)
    const childrenOf = (parent: ReadableSpan): string[] => all.filter((s) => parentOf(s) === idOf(parent)).map((s) => s.name)
    assert.deepEqual(childrenOf(first), ['DO', 'ROLLBACK'])
    assert.deepEqual(childrenOf(second), ['load user', 'SELECT users', 'COMMIT'])
    // A span the application opens inside the callback is part of the attempt, and its statements stay under it.
    const [loadUser] = named(all, 'load user')
    assert.ok(loadUser)
    assert.deepEqual(childrenOf(loadUser), ['UPDATE users'])
    const [failed] = named(all, 'DO')
    assert.equal(failed?.attributes['error.type'], '40001')
    assert.equal(failed?.attributes['db.response.status_code'], '40001')
    assert.equal(failed?.status.code, SpanStatusCode.ERROR)
    assert.equal(failed?.status.message, undefined, "the server's message is not copied: it can quote values")
  })

  it('shows a wait for a connection under the statement that waited, and a timeout as its error', async () => {
    const { provider, spans } = tracing()
    // Idle connections are lent without a check, so a lend from idle never waits.
    const db = ctx.open({ pool: { max: 1, acquireTimeoutMs: 10_000, validateAfterIdleMs: 600_000 } })
    instrumentDatabase(db, { tracerProvider: provider, metrics: false })
    await db.query(sql`SELECT 1`)
    const held = hold(db)
    await until(() => db.stats().inUse === 1)
    const waiting = inRequest(provider, () => db.query(sql`SELECT 2`))
    await until(() => db.stats().waiting === 1)
    held.release()
    await held.done
    await waiting
    const all = spans()
    const waits = named(all, 'acquire connection')
    const statementOf = (text: string): ReadableSpan => all.find((s) => s.attributes['db.query.text'] === text) as ReadableSpan
    // SELECT 1 waited for a connection to be opened, SELECT 2 for the session to end; the session found one idle.
    assert.deepEqual(waits.map(parentOf).sort(), [idOf(statementOf('SELECT 1')), idOf(statementOf('SELECT 2'))].sort())
    assert.ok(waits.every((w) => w.attributes['db.client.connection.pool.name'] === db.applicationName && w.status.code === SpanStatusCode.UNSET))

    const timed = ctx.open({ pool: { max: 1, acquireTimeoutMs: 1_000 } })
    await timed.ready()
    const timedTrace = tracing()
    instrumentDatabase(timed, { tracerProvider: timedTrace.provider, metrics: false })
    const holder = hold(timed)
    await until(() => timed.stats().inUse === 1)
    const err = await timed
      .asPgPool()
      .query('SELECT 4')
      .catch((e: unknown) => e)
    holder.release()
    await holder.done
    assert.ok(err instanceof PoolTimeoutError)
    const [timeoutWait] = named(timedTrace.spans(), 'acquire connection').filter((w) => w.status.code === SpanStatusCode.ERROR)
    assert.equal(timeoutWait?.attributes['error.type'], 'PoolTimeoutError')
    assert.match(String(timeoutWait?.status.message), /Acquire timeout: waited \d+ ms for a connection/)
    const [timedStatement] = named(timedTrace.spans(), 'SELECT')
    assert.equal(timedStatement?.attributes['error.type'], 'PoolTimeoutError')
    assert.ok(timeoutWait !== undefined && timedStatement !== undefined)
    assert.equal(parentOf(timeoutWait), idOf(timedStatement))
  })

  it('stops with disable(): no more spans, and the pool measures nothing again', async () => {
    const { provider, spans } = tracing()
    const db = ctx.open()
    const telemetry = instrumentDatabase(db, { tracerProvider: provider, metrics: false })
    assert.throws(() => instrumentDatabase(db), /once per database/)
    await db.query(sql`SELECT 1`)
    const recorded = spans().length
    assert.ok(named(spans(), 'SELECT').length === 1)
    telemetry.disable()
    assert.equal(internalsOf(db).pool.instrumentation.active, false)
    await db.query(sql`SELECT 1`)
    assert.equal(spans().length, recorded)
    instrumentDatabase(db, { tracerProvider: provider, metrics: false }).disable()
  })
})

describe('OpenTelemetry metrics', () => {
  it('exports the pool metrics and the operation duration with the conventions names, units and attributes', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const meterProvider = new MeterProvider({ readers: [reader] })
    const db = ctx.open({ pool: { max: 2, acquireTimeoutMs: 1_000 } })
    instrumentDatabase(db, { meterProvider, traces: false, poolName: 'main' })
    for (let i = 0; i < 3; i++) await db.query(sql`SELECT * FROM users WHERE id = ${i}`)
    await db.query(sql`SELECT 1 / ${0}::int`).catch(() => undefined)
    // Hold both connections, then ask for a third: one timeout.
    const both = [hold(db), hold(db)]
    await until(() => db.stats().inUse === 2)
    await assert.rejects(db.query(sql`SELECT 1`), PoolTimeoutError)
    both[0]?.release()
    await both[0]?.done
    await reader.forceFlush()
    const exported = exporter.getMetrics().at(-1)
    both[1]?.release()
    await both[1]?.done
    await meterProvider.shutdown()

    const all: MetricData[] = exported?.scopeMetrics.flatMap((s) => s.metrics) ?? []
    const metric = (name: string): MetricData => {
      const found = all.find((m) => m.descriptor.name === name)
      assert.ok(found, `${name} exported; got ${all.map((m) => m.descriptor.name).join(', ')}`)
      return found
    }
    const value = (name: string, attributes: Record<string, string>): unknown =>
      metric(name).dataPoints.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))?.value

    const pool = { 'db.client.connection.pool.name': 'main' }
    assert.equal(value('db.client.connection.count', { ...pool, 'db.client.connection.state': 'used' }), 1)
    assert.equal(value('db.client.connection.count', { ...pool, 'db.client.connection.state': 'idle' }), 1)
    assert.equal(value('db.client.connection.max', pool), 2)
    assert.equal(value('db.client.connection.idle.max', pool), 2)
    assert.equal(value('db.client.connection.idle.min', pool), 0)
    assert.equal(value('db.client.connection.pending_requests', pool), 0)
    assert.equal(value('db.client.connection.timeouts', pool), 1)
    const count = (name: string, attributes: Record<string, string> = pool): number => (value(name, attributes) as { count: number } | undefined)?.count ?? 0
    assert.equal(count('db.client.connection.create_time'), 2)
    // Four statements and two sessions were lent a connection; all but one session gave it back.
    assert.equal(count('db.client.connection.wait_time'), 6)
    assert.equal(count('db.client.connection.use_time'), 5)
    assert.equal(
      count('db.client.operation.duration', { 'db.system.name': 'postgresql', 'db.query.summary': 'SELECT users', 'db.operation.name': 'SELECT' }),
      3,
    )
    assert.equal(count('db.client.operation.duration', { 'error.type': '22012', 'db.response.status_code': '22012' }), 1)
    assert.equal(count('db.client.operation.duration', { 'error.type': 'PoolTimeoutError' }), 1)
    for (const name of [
      'db.client.operation.duration',
      'db.client.connection.wait_time',
      'db.client.connection.use_time',
      'db.client.connection.create_time',
    ]) {
      assert.equal(metric(name).descriptor.unit, 's')
    }
    assert.equal(metric('db.client.connection.count').descriptor.unit, '{connection}')
    assert.deepEqual(
      (metric('db.client.operation.duration').dataPoints[0]?.value as { buckets: { boundaries: number[] } }).buckets.boundaries,
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    )
    assert.equal(trace.getActiveSpan(), undefined)
  })
})
