/**
 * Behind a real PgBouncer in transaction mode (issue 16, poolers): the default configuration's
 * named prepared statements fail there, `pooler: 'transaction'` runs the same work without a
 * single 42P05/26000, transactions keep one backend, `db.session` is refused, the capacity check
 * raises no false alarm, settings PgBouncer would refuse at connect are a ConfigError, and
 * cancellation (timeoutMs, AbortSignal) reaches the server through PgBouncer, repeatedly.
 * Skipped, with the install command, where PgBouncer is not installed.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { pgbouncerOrSkip, type PgBouncer } from '@pgsteward/testkit'
import { AbortedError, ConfigError, ConnectionError, MisuseError, ScopeTimeoutError, sql, type Database } from 'pgsteward'
import { collectUnhandledRejections, eventually, setup } from './support.ts'

const ctx = await setup('pooler_pgbouncer')
const unhandled = collectUnhandledRejections()
const ITEMS = 10

async function bouncer(t: TestContext, defaultPoolSize = 3): Promise<PgBouncer | undefined> {
  const b = await pgbouncerOrSkip(t, { target: ctx.url, defaultPoolSize })
  if (b !== undefined) t.diagnostic(`PgBouncer ${b.version}, ${b.poolMode} mode, default_pool_size ${defaultPoolSize}`)
  return b
}

interface MixedOutcome {
  ok: number
  increments: number
  errors: Record<string, number>
}

/**
 * 600 operations from 20 concurrent users: look-ups, one-shot increments and two-statement
 * transactions, as an application behind the pooler would run them.
 */
async function mixedWork(db: Database, table: string): Promise<MixedOutcome> {
  const t = sql.identifier(table)
  await ctx.admin(`CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)`)
  await ctx.admin(`INSERT INTO ${table} (id) SELECT generate_series(0, ${ITEMS - 1})`)
  const outcome: MixedOutcome = { ok: 0, increments: 0, errors: {} }
  await Promise.all(
    Array.from({ length: 20 }, async (_, user) => {
      for (let i = 0; i < 30; i++) {
        const id = (user + i) % ITEMS
        try {
          if (i % 3 === 0) {
            await db.one(sql`SELECT n FROM ${t} WHERE id = ${id}`)
          } else if (i % 3 === 1) {
            await db.query(sql`UPDATE ${t} SET n = n + 1 WHERE id = ${id}`)
            outcome.increments++
          } else {
            await db.transaction(async (tx) => {
              await tx.one(sql`SELECT n FROM ${t} WHERE id = ${id} FOR UPDATE`)
              await tx.query(sql`UPDATE ${t} SET n = n + ${1} WHERE id = ${id}`)
            })
            outcome.increments++
          }
          outcome.ok++
        } catch (err) {
          const e = err as { sqlState?: string; code?: string }
          const key = e.sqlState ?? e.code ?? 'other'
          outcome.errors[key] = (outcome.errors[key] ?? 0) + 1
        }
      }
    }),
  )
  return outcome
}

async function counted(table: string): Promise<number> {
  const rows = await ctx.admin<{ total: number }>(`SELECT sum(n)::int AS total FROM ${table}`)
  return rows[0]?.total ?? 0
}

/** Backends of the test database running `text` right now, as the real server sees them. */
async function running(text: string): Promise<number> {
  const rows = await ctx.admin<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query = $1`,
    [text],
  )
  return rows[0]?.n ?? 0
}

describe('behind PgBouncer in transaction mode', () => {
  it('the default configuration (named prepared statements) fails there with 42P05/26000: the failure pooler mode exists for', async (t) => {
    const b = await bouncer(t)
    if (!b) return
    const db = ctx.open({ pool: { max: 10 } }, b.url)
    db.on('warning', () => undefined)
    const outcome = await mixedWork(db, 'default_config')
    t.diagnostic(`default configuration: ${outcome.ok} of 600 succeeded, errors ${JSON.stringify(outcome.errors)}`)
    const cacheErrors = (outcome.errors['42P05'] ?? 0) + (outcome.errors['26000'] ?? 0)
    assert.ok(cacheErrors > 0, `expected prepared-statement errors, got ${JSON.stringify(outcome.errors)}`)
  })

  it("pooler: 'transaction': 600 mixed concurrent operations, no 42P05/26000, every increment counted", async (t) => {
    const b = await bouncer(t)
    if (!b) return
    const db = ctx.open({ pool: { max: 10 }, pooler: 'transaction' }, b.url)
    const outcome = await mixedWork(db, 'pooler_mode')
    t.diagnostic(`pooler mode: ${outcome.ok} of 600 succeeded, errors ${JSON.stringify(outcome.errors)}`)
    assert.deepEqual(outcome.errors, {})
    assert.equal(outcome.ok, 600)
    assert.equal(await counted('pooler_mode'), outcome.increments)
    assert.equal(db.options.statementCacheSize, 0)
    assert.deepEqual(unhandled, [])
  })

  it('transactions work: one backend for the whole transaction, rollback undoes, commit keeps, savepoints nest', async (t) => {
    const b = await bouncer(t, 2)
    if (!b) return
    const db = ctx.open({ pool: { max: 6 }, pooler: 'transaction' }, b.url)
    await ctx.admin(`CREATE TABLE pooled_tx (id int PRIMARY KEY)`)
    // Busy neighbours, so consecutive transactions land on different backends.
    const noise = Promise.all(Array.from({ length: 4 }, () => db.query(sql`SELECT pg_sleep(0.05)`)))
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db.transaction(async (tx) => {
          const first = await tx.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)
          await tx.query(sql`INSERT INTO pooled_tx VALUES (${i})`)
          await tx.query(sql`SELECT pg_sleep(0.01)`)
          const last = await tx.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`)
          assert.equal(last.pid, first.pid, 'a transaction keeps its backend')
        }),
      ),
    )
    await noise
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(sql`INSERT INTO pooled_tx VALUES (100)`)
        throw new Error('roll back')
      }),
      /roll back/,
    )
    await db.transaction(async (tx) => {
      await tx.query(sql`INSERT INTO pooled_tx VALUES (200)`)
      await tx
        .transaction(async (sp) => {
          await sp.query(sql`INSERT INTO pooled_tx VALUES (201)`)
          throw new Error('undo the savepoint only')
        })
        .catch(() => undefined)
    })
    const ids = (await ctx.admin<{ id: number }>(`SELECT id FROM pooled_tx ORDER BY id`)).map((r) => r.id)
    assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 200])
  })

  it('db.session is refused with an error naming db.transaction; db.listen with one naming a direct connection', async (t) => {
    const b = await bouncer(t)
    if (!b) return
    const db = ctx.open({ pooler: 'transaction' }, b.url)
    const session = await db.session(async () => undefined).catch((e: unknown) => e)
    assert.ok(session instanceof MisuseError, String(session))
    assert.match(session.message, /not available with pooler: 'transaction'.*Use db\.transaction/)
    const listen = await db.listen('jobs', () => undefined).catch((e: unknown) => e)
    assert.ok(listen instanceof MisuseError, String(listen))
    await db.notify('jobs', 'through the pooler') // an ordinary statement: fine
  })

  it('no server-capacity false alarm: a pool larger than max_connections is what a pooler is for', async (t) => {
    const b = await bouncer(t)
    if (!b) return
    const [{ max_connections: serverMax } = { max_connections: 100 }] = await ctx.admin<{ max_connections: number }>(
      `SELECT current_setting('max_connections')::int AS max_connections`,
    )
    const max = serverMax + 50
    // Without pooler mode the check counts the server's connections and misfires behind PgBouncer...
    const plain = ctx.open({ pool: { max } }, b.url)
    const alarms: ConfigError[] = []
    plain.on('warning', (w) => alarms.push(w))
    await plain.query(sql`SELECT 1`)
    await eventually(() => alarms.length === 1, 10_000, 'the capacity warning without pooler mode')
    assert.match(alarms[0]?.message ?? '', /pool\.max is \d+ but the server can give at most/)
    // ...with it, even strict: true (warnings are errors) starts and runs.
    const pooled = ctx.open({ pool: { max }, pooler: 'transaction', strict: true }, b.url)
    const warnings: ConfigError[] = []
    pooled.on('warning', (w) => warnings.push(w))
    await pooled.ready()
    await Promise.all(Array.from({ length: 30 }, (_, i) => pooled.one(sql`SELECT ${i}::int AS n`)))
    assert.deepEqual(warnings, [])
  })

  it('settings sent at connect are a ConfigError in pooler mode, naming where to set them instead', () => {
    assert.throws(
      () => ctx.open({ pooler: 'transaction', statementTimeoutMs: 5_000 }),
      (e: unknown) => e instanceof ConfigError && /statementTimeoutMs cannot be honoured.*ALTER ROLE \.\.\. SET statement_timeout.*timeoutMs/.test(e.message),
    )
    assert.throws(
      () => ctx.open({ pooler: 'transaction', lockTimeoutMs: 1_000, serverSettings: { search_path: 'app' } }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.equal(e.problems.length, 2)
        return true
      },
    )
  })

  it('without pooler mode, a setting PgBouncer refuses at connect fails at once, not after retries until the acquire deadline', async (t) => {
    const b = await bouncer(t)
    if (!b) return
    const db = ctx.open({ statementTimeoutMs: 5_000, pool: { acquireTimeoutMs: 60_000 } }, b.url)
    const err = await db.query(sql`SELECT 1`).catch((e: unknown) => e)
    assert.ok(err instanceof ConnectionError, String(err))
    assert.match(err.message, /unsupported startup parameter: statement_timeout/)
    assert.equal(db.stats().counters.connectFailures, 1, 'not retried until the acquire deadline')
  })

  it('cancel works through PgBouncer: timeoutMs and AbortSignal stop pg_sleep on the server, again and again, and the connection is usable', async (t) => {
    const b = await bouncer(t, 2)
    if (!b) return
    const db = ctx.open({ pool: { max: 2 }, pooler: 'transaction' }, b.url)
    for (let round = 0; round < 3; round++) {
      const err = await db.query(sql`SELECT pg_sleep(30)`, { timeoutMs: 200 }).catch((e: unknown) => e)
      assert.ok(err instanceof ScopeTimeoutError, `round ${round}: ${String(err)}`)
      assert.equal(err.code, 'SCOPE_TIMEOUT')
      await eventually(async () => (await running('SELECT pg_sleep(30)')) === 0, 10_000, `round ${round}: pg_sleep no longer running on the server`)
      assert.equal((await db.one<{ n: number }>(sql`SELECT ${round}::int AS n`)).n, round)
    }

    const controller = new AbortController()
    const aborted = db
      .transaction(
        async (tx) => {
          await tx.query(sql`SELECT pg_sleep(30)`)
        },
        { signal: controller.signal },
      )
      .catch((e: unknown) => e)
    await eventually(async () => (await running('SELECT pg_sleep(30)')) === 1, 10_000, 'the transaction is sleeping on the server')
    controller.abort()
    const err = await aborted
    assert.ok(err instanceof AbortedError && err.code === 'ABORTED', String(err))
    await eventually(async () => (await running('SELECT pg_sleep(30)')) === 0, 10_000, 'pg_sleep cancelled on the server')
    // Both connections come back clean: two transactions at once succeed.
    const pids = await Promise.all([1, 2].map(() => db.transaction((tx) => tx.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`))))
    assert.equal(pids.length, 2)
    const log = await b.log()
    assert.doesNotMatch(log, /bad client state|FATAL/i, 'PgBouncer took every cancel request as a well-behaved client')
  })
})
