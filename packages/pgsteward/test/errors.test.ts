import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import {
  AdminShutdownError,
  CheckViolationError,
  ConnectionLostError,
  DatabaseError,
  ExclusionViolationError,
  ForeignKeyViolationError,
  LockNotAvailableError,
  MisuseError,
  NotNullViolationError,
  QueryCanceledError,
  ReadOnlyTransactionError,
  SerializationFailureError,
  UniqueViolationError,
  sql,
} from 'pgsteward'
import { eventually, setup } from './support.ts'

const ctx = await setup('errors')
await ctx.admin(`
  CREATE TABLE parent (id int PRIMARY KEY);
  CREATE TABLE child (id int PRIMARY KEY, parent_id int CONSTRAINT child_parent_fk REFERENCES parent(id));
  CREATE TABLE person (id int PRIMARY KEY, email text CONSTRAINT person_email_key UNIQUE, age int CONSTRAINT person_age_check CHECK (age >= 0), name text NOT NULL DEFAULT 'x');
  CREATE TABLE booking (room circle, CONSTRAINT no_overlap EXCLUDE USING gist (room WITH &&));
  CREATE TABLE counter (id int PRIMARY KEY, n int);
  INSERT INTO counter VALUES (1, 0);
  INSERT INTO person (id, email) VALUES (1, 'taken@example.com');
`)

async function failureOf(work: () => Promise<unknown>): Promise<unknown> {
  return work().then(
    () => assert.fail('expected the statement to fail'),
    (e: unknown) => e,
  )
}

describe('SQLSTATE mapping, each produced by a real statement', () => {
  const db = ctx.open({ pool: { max: 4 }, lockTimeoutMs: 0 })

  it('23505 unique violation, with constraint and table, without the value', async function uniqueCaller() {
    const secret = 'taken@example.com'
    const err = await failureOf(() => db.query(sql`INSERT INTO person (id, email) VALUES (2, ${secret})`))
    assert.ok(err instanceof UniqueViolationError)
    assert.equal(err.sqlState, '23505')
    assert.equal(err.code, 'UNIQUE_VIOLATION')
    assert.equal(err.constraint, 'person_email_key')
    assert.equal(err.table, 'person')
    assert.match(err.sql ?? '', /INSERT INTO person \(id, email\) VALUES \(2, \$1\)/)
    assert.equal(err.cause, undefined, 'no driver error with the raw message hangs off it')
    assert.match(err.detail ?? '', /already exists/, 'the detail is there for code that asks')
    for (const rendering of [err.message, JSON.stringify(err), inspect(err, { depth: 5 })]) {
      assert.ok(!rendering.includes(secret), 'the parameter value never appears in renderings')
    }
    assert.match(err.stack ?? '', /uniqueCaller|errors\.test\.ts/, "keeps the caller's stack")
  })

  it('23503 foreign key violation', async () => {
    const err = await failureOf(() => db.query(sql`INSERT INTO child VALUES (1, 999)`))
    assert.ok(err instanceof ForeignKeyViolationError)
    assert.equal(err.constraint, 'child_parent_fk')
    assert.equal(err.table, 'child')
  })

  it('23502 not null violation, with the column', async () => {
    const err = await failureOf(() => db.query(sql`INSERT INTO person (id, name) VALUES (3, NULL)`))
    assert.ok(err instanceof NotNullViolationError)
    assert.equal(err.column, 'name')
    assert.equal(err.table, 'person')
  })

  it('23514 check violation', async () => {
    const err = await failureOf(() => db.query(sql`INSERT INTO person (id, age) VALUES (4, ${-5})`))
    assert.ok(err instanceof CheckViolationError)
    assert.equal(err.constraint, 'person_age_check')
  })

  it('23P01 exclusion violation', async () => {
    await db.query(sql`INSERT INTO booking VALUES ('<(0,0),2>')`)
    const err = await failureOf(() => db.query(sql`INSERT INTO booking VALUES ('<(1,1),2>')`))
    assert.ok(err instanceof ExclusionViolationError)
    assert.equal(err.constraint, 'no_overlap')
  })

  it('40001 serialization failure', async () => {
    const err = await failureOf(() =>
      db.transaction(
        async (tx) => {
          await tx.query(sql`SELECT n FROM counter WHERE id = 1`)
          await db.transaction(async (other) => other.query(sql`UPDATE counter SET n = n + 1 WHERE id = 1`), { independent: true })
          await tx.query(sql`UPDATE counter SET n = n + 1 WHERE id = 1`)
        },
        { isolation: 'repeatable read', retry: { max: 0 } },
      ),
    )
    assert.ok(err instanceof SerializationFailureError, String(err))
    assert.equal(err.sqlState, '40001')
  })

  it('55P03 lock not available (NOWAIT)', async () => {
    const err = await failureOf(() =>
      db.transaction(async (tx) => {
        await tx.query(sql`SELECT * FROM counter WHERE id = 1 FOR UPDATE`)
        await db.transaction(async (other) => other.query(sql`SELECT * FROM counter WHERE id = 1 FOR UPDATE NOWAIT`), { independent: true })
      }),
    )
    assert.ok(err instanceof LockNotAvailableError, String(err))
  })

  it('57014 query canceled (statement_timeout)', async () => {
    const timed = ctx.open({ statementTimeoutMs: 50 })
    const err = await failureOf(() => timed.query(sql`SELECT pg_sleep(1)`))
    assert.ok(err instanceof QueryCanceledError, String(err))
    assert.equal((await timed.one<{ n: number }>(sql`SELECT 1 AS n`)).n, 1, 'a failed statement does not cost the connection')
    assert.equal(timed.stats().counters.destroyed.broken, 0)
  })

  it('25006 read-only transaction', async () => {
    const err = await failureOf(() => db.transaction(async (tx) => tx.query(sql`INSERT INTO parent VALUES (1)`), { readOnly: true }))
    assert.ok(err instanceof ReadOnlyTransactionError)
  })

  it('57P01 admin shutdown', async () => {
    const victim = ctx.open({ pool: { max: 1 } })
    const err = await failureOf(() =>
      victim.session(async (s) => {
        const { pid } = await s.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)
        await ctx.admin('SELECT pg_terminate_backend($1)', [pid])
        await eventually(() => true, 10, '')
        await s.query(sql`SELECT pg_sleep(0.5)`)
      }),
    )
    assert.ok(err instanceof AdminShutdownError || err instanceof ConnectionLostError, String(err))
  })

  it('connection lost (socket closed under a statement)', async () => {
    const victim = ctx.open({ pool: { max: 1 } })
    const err = await failureOf(() =>
      victim.session(async (s) => {
        const pending = s.query(sql`SELECT pg_sleep(5)`)
        await new Promise((r) => setTimeout(r, 50))
        ;(s as unknown as { lease: { wire: { socket: { stream: { destroy(): void } } } } }).lease.wire.socket.stream.destroy()
        await pending
      }),
    )
    assert.ok(err instanceof ConnectionLostError, String(err))
    assert.equal(err.sqlState, '08006')
  })

  it('other SQLSTATEs become DatabaseError with the SQLSTATE in the code; data errors hide the input', async () => {
    const err = await failureOf(() => db.query(sql`SELECT ${'not-a-number'}::int`))
    assert.ok(err instanceof DatabaseError)
    assert.equal(err.code, 'SQLSTATE_22P02')
    assert.ok(!err.message.includes('not-a-number'), err.message)
  })

  it('one / maybeOne / many enforce their row counts', async () => {
    await assert.rejects(db.one(sql`SELECT 1 WHERE false`), { code: 'NO_ROWS' })
    await assert.rejects(db.one(sql`SELECT generate_series(1, 2)`), { code: 'TOO_MANY_ROWS' })
    assert.equal(await db.maybeOne(sql`SELECT 1 WHERE false`), null)
    await assert.rejects(db.many(sql`SELECT 1 WHERE false`), { code: 'NO_ROWS' })
    assert.equal((await db.many(sql`SELECT generate_series(1, 3)`)).length, 3)
  })

  it('a plain string query is refused with the fix', async () => {
    await assert.rejects(db.query('SELECT 1' as never), (e: unknown) => e instanceof MisuseError && /sql`/.test(e.message) && /sql\.unsafe/.test(e.message))
  })
})

describe('no parameter value anywhere in an error (issue 13, defect 6)', () => {
  const db = ctx.open({ pool: { max: 2 } })

  /** Every rendering a logger or a developer would see. */
  async function renderings(err: unknown): Promise<string[]> {
    const lines: string[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
    logger.error({ err }, 'statement failed')
    await new Promise((r) => setImmediate(r))
    const chain: string[] = []
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
      chain.push(e.toString(), e.message, e.stack ?? '')
    }
    return [...lines, JSON.stringify(err), inspect(err, { depth: 10 }), inspect(err, { depth: 10, showHidden: true }), ...chain]
  }

  it('a data error (class 22) keeps the input out of the message, the cause chain, inspect and pino', async () => {
    const secret = 'not-a-number-7f3a'
    const err = await failureOf(() => db.query(sql`SELECT ${secret}::int`))
    assert.ok(err instanceof DatabaseError && err.sqlState === '22P02', String(err))
    for (const text of await renderings(err)) assert.ok(!text.includes(secret), `the value appeared in: ${text.slice(0, 200)}`)
  })

  it('a unique violation keeps the key value out of everything but the non-enumerable detail', async () => {
    const secret = 'secret-key-value@example.com'
    await db.query(sql`INSERT INTO person (id, email) VALUES (50, ${secret})`)
    const err = await failureOf(() => db.query(sql`INSERT INTO person (id, email) VALUES (51, ${secret})`))
    assert.ok(err instanceof UniqueViolationError)
    assert.match(err.detail ?? '', /already exists/, 'still readable on purpose')
    for (const text of await renderings(err)) {
      if (text === inspect(err, { depth: 10, showHidden: true })) continue // showHidden asks for non-enumerable fields on purpose
      assert.ok(!text.includes(secret), `the value appeared in: ${text.slice(0, 200)}`)
    }
  })
})
