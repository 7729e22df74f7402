import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, createDatabase, sql, type QueryEvent } from 'pgsteward'
// The built module the package itself uses: the same registry `pgsteward` registers databases in.
import { internalsOf } from '../dist/database-internals.js'
import { setup } from './support.ts'

const ctx = await setup('query_events')

function record(db: { on(event: 'query', fn: (e: QueryEvent) => void): unknown }): QueryEvent[] {
  const seen: QueryEvent[] = []
  db.on('query', (e) => seen.push(e))
  return seen
}

interface LogCall {
  level: string
  obj: Record<string, unknown>
  msg: string
}

/** A pino-shaped logger that records every call at every level. */
function recordingLogger(): { logger: Record<string, (obj: Record<string, unknown>, msg: string) => void>; calls: LogCall[] } {
  const calls: LogCall[] = []
  const logger: Record<string, (obj: Record<string, unknown>, msg: string) => void> = {}
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) logger[level] = (obj, msg) => calls.push({ level, obj, msg })
  return { logger, calls }
}

describe('the query event', () => {
  it('reports a one-shot statement: text with placeholders, rows, command, scope, connection', async () => {
    const db = ctx.open()
    const seen = record(db)
    await db.query(sql`SELECT generate_series(1, ${3}::int) AS n, ${'do-not-report'}::text AS secret`)
    assert.equal(seen.length, 1)
    const [e] = seen as [QueryEvent]
    assert.equal(e.sql, 'SELECT generate_series(1, $1::int) AS n, $2::text AS secret')
    assert.equal(e.rowCount, 3)
    assert.equal(e.command, 'SELECT')
    assert.equal(e.scope, 'one-shot')
    assert.equal(e.via, 'pgsteward')
    assert.equal(e.error, undefined)
    assert.equal(typeof e.connectionId, 'number')
    assert.ok(e.durationMs >= 0)
    assert.doesNotMatch(JSON.stringify(e), /do-not-report/)
  })

  it('reports a failed statement by class, stable code and SQLSTATE', async () => {
    const db = ctx.open()
    const seen = record(db)
    const err = await db.query(sql`SELECT 1 / ${0}::int`).then(
      () => assert.fail('division by zero succeeded'),
      (e: unknown) => e as Error & { code: string },
    )
    assert.equal(seen.length, 1)
    assert.deepEqual(seen[0]?.error, { name: err.name, code: err.code, sqlState: '22012' })
    assert.equal(seen[0]?.rowCount, null)
  })

  it('reports every statement of each transaction attempt, the retried one and COMMIT included', async () => {
    const db = ctx.open()
    const seen = record(db)
    let attempt = 0
    const result = await db.transaction(
      async (tx) => {
        attempt++
        // A serialization failure raised by the server itself: the transaction is re-run.
        if (attempt === 1) await tx.query(sql`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`)
        return tx.one<{ n: number }>(sql`SELECT ${attempt}::int AS n`)
      },
      { retry: { max: 2, baseDelayMs: 1, maxDelayMs: 1 } },
    )
    assert.equal(result.n, 2)
    assert.deepEqual(
      seen.map((e) => [e.sql.split(' ')[0], e.scope, e.error?.sqlState]),
      [
        ['DO', 'transaction', '40001'],
        ['ROLLBACK', 'transaction', undefined],
        ['SELECT', 'transaction', undefined],
        ['COMMIT', 'transaction', undefined],
      ],
    )
    assert.equal(new Set(seen.map((e) => e.connectionId)).size, 1, 'one connection for the whole transaction')
    assert.equal(seen[3]?.command, 'COMMIT')
  })

  it('reports the facade statements, one-shot and checked out, with rows and command', async () => {
    const db = ctx.open()
    const seen = record(db)
    const pool = db.asPgPool()
    await pool.query('SELECT $1::text AS v UNION ALL SELECT $1::text', ['x'])
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SELECT 1 AS one')
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    assert.deepEqual(
      seen.map((e) => [e.sql, e.scope, e.via, e.rowCount, e.command]),
      [
        ['SELECT $1::text AS v UNION ALL SELECT $1::text', 'one-shot', 'pg-facade', 2, 'SELECT'],
        ['BEGIN', 'checkout', 'pg-facade', null, 'BEGIN'],
        ['SELECT 1 AS one', 'checkout', 'pg-facade', 1, 'SELECT'],
        ['COMMIT', 'checkout', 'pg-facade', null, 'COMMIT'],
      ],
    )
    const failed = await pool.query('SELECT * FROM no_such_table').catch((e: unknown) => e)
    assert.ok(failed instanceof Error)
    assert.equal(seen.at(-1)?.error?.sqlState, '42P01')
    assert.equal(seen.at(-1)?.via, 'pg-facade')
  })

  it('measures nothing while nobody listens: observers come and go with the listeners', async () => {
    const db = ctx.open()
    const instrumentation = internalsOf(db).pool.instrumentation
    await db.query(sql`SELECT 1`)
    assert.equal(instrumentation.active, false, 'no observer without listeners')
    const listener = (): void => undefined
    db.on('query', listener)
    assert.equal(instrumentation.active, true)
    db.on('query', listener)
    db.off('query', listener)
    assert.equal(instrumentation.active, true, 'still one listener')
    db.off('query', listener)
    assert.equal(instrumentation.active, false, 'the last listener took the observer with it')
  })
})

describe('the slow-statement log', () => {
  it('logs statements over the threshold through logger.warn, with text and never values', async () => {
    const { logger, calls } = recordingLogger()
    const db = ctx.open({ logger: logger as never, slowStatementMs: 200 })
    assert.equal(internalsOf(db).pool.instrumentation.active, true)
    for (let i = 0; i < 5; i++) await db.query(sql`SELECT ${i}::int`)
    await db.query(sql`SELECT pg_sleep(0.3), ${'secret-parameter'}::text AS v`)
    // Spliced into the text by the caller (pg style): hidden from the log as a literal.
    await db.asPgPool().query("SELECT pg_sleep(0.3), 'secret-literal' AS v")
    assert.ok(
      calls.every((c) => c.level === 'warn' && c.msg === 'slow statement'),
      `only warn calls: ${JSON.stringify(calls.map((c) => c.level))}`,
    )
    assert.ok(
      calls.every((c) => (c.obj.durationMs as number) >= 200),
      'nothing under the threshold is logged',
    )
    const slow = calls.filter((c) => String(c.obj.sql).includes('pg_sleep'))
    assert.equal(slow.length, 2)
    assert.deepEqual(
      slow.map((c) => c.obj.sql),
      ['SELECT pg_sleep(0.3), $1::text AS v', 'SELECT pg_sleep(?), ? AS v'],
    )
    assert.deepEqual(
      slow.map((c) => [c.obj.scope, c.obj.via, c.obj.rowCount, c.obj.command, c.obj.thresholdMs, c.obj.pool]),
      [
        ['one-shot', 'pgsteward', 1, 'SELECT', 200, db.applicationName],
        ['one-shot', 'pg-facade', 1, 'SELECT', 200, db.applicationName],
      ],
    )
    assert.doesNotMatch(JSON.stringify(calls), /secret-/)
  })

  it('defaults to one second with a logger, and refuses a threshold without one', () => {
    const { logger } = recordingLogger()
    const db = createDatabase({ connectionString: ctx.url, logger: logger as never })
    assert.equal(db.options.slowStatementMs, 1_000)
    assert.equal(createDatabase({ connectionString: ctx.url }).options.slowStatementMs, 0)
    assert.equal(createDatabase({ connectionString: ctx.url, logger: logger as never, slowStatementMs: 0 }).options.slowStatementMs, 0)
    assert.throws(
      () => createDatabase({ connectionString: ctx.url, slowStatementMs: 100 }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /slowStatementMs needs a logger/)
        return true
      },
    )
    assert.throws(() => createDatabase({ connectionString: ctx.url, logger: {} as never }), /logger must be a pino-compatible logger/)
  })
})
