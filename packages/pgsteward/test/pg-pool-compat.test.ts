/**
 * What code written for pg.Pool relies on, checked on `pgsteward/pg`'s Pool against a real
 * server: errors, events, end(), callbacks, options. The differences pgsteward keeps on purpose
 * are checked in pg-drop-in.test.ts.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { freePort } from '@pgsteward/testkit'
import { ConfigError, MisuseError, PoolTimeoutError } from 'pgsteward'
import { Pool, type PgPoolOptions, type StewardPgClient as Client } from 'pgsteward/pg'
import { eventually, setup } from './support.ts'

const ctx = await setup('pg_pool_compat')

type Row = Record<string, unknown>

const pools: Pool[] = []
function pool(options: PgPoolOptions = {}): Pool {
  const p = new Pool({ connectionString: ctx.url, ...options })
  pools.push(p)
  return p
}

/** Fails if `promise` has not settled within `ms`: for "at once" where the alternative is waiting out a long timeout. */
function before<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

describe('pgsteward/pg Pool: failures reach callers as with pg.Pool', () => {
  it('an unreachable server fails pool.query and pool.connect with the connection error, not after the acquire timeout', async () => {
    const port = await freePort()
    const p = pool({ connectionString: undefined, host: '127.0.0.1', port, user: 'nobody', database: 'nothing', connectionTimeoutMillis: 60_000 })
    const queried = new Promise<{ err: Error | undefined; res: unknown }>((resolve) =>
      p.query('SELECT 1', (err: Error | undefined, res?: unknown) => resolve({ err, res })),
    )
    const { err, res } = await before(20_000, 'the query callback', queried)
    assert.equal(res, undefined)
    assert.equal((err as { code?: string } | undefined)?.code, 'ECONNREFUSED')
    assert.equal(p.totalCount, 0, 'no dead client left in the pool')
    const connected = new Promise<unknown[]>((resolve) => p.connect((...args: unknown[]) => resolve(args)))
    const [connectErr, client, release] = await before(20_000, 'the connect callback', connected)
    assert.equal((connectErr as { code?: string }).code, 'ECONNREFUSED')
    assert.equal(client, undefined)
    assert.equal(typeof release, 'function', 'a failed checkout still gets a release function, as from pg-pool')
    await p.end()
  })

  it('a server that drops every connection fails each queued checkout in turn with the connection error', async () => {
    const server = net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const p = pool({ connectionString: undefined, host: '127.0.0.1', port, user: 'nobody', max: 1, connectionTimeoutMillis: 60_000 })
      const outcomes = await before(
        20_000,
        'both checkouts failing',
        Promise.all([
          p.connect().then(
            () => 'connected',
            (e: unknown) => e,
          ),
          p.connect().then(
            () => 'connected',
            (e: unknown) => e,
          ),
        ]),
      )
      for (const outcome of outcomes) {
        assert.ok(outcome instanceof Error && !(outcome instanceof PoolTimeoutError), String(outcome))
        assert.match(outcome.message, /closed|reset/i)
      }
      await p.end()
    } finally {
      server.close()
    }
  })

  it('the acquire timeout error says "timeout", as pg-pool’s does', async () => {
    // The connection is opened (and checked) first, under no short limit: only the wait under test is bounded.
    const p = pool({ max: 1, connectionTimeoutMillis: 100, pgsteward: { pool: { min: 1, connectTimeoutMs: 30_000 } } })
    await eventually(() => p.idleCount === 1, 30_000, 'connection open')
    const held = await p.connect()
    const err = await p.connect().then(
      () => undefined,
      (e: unknown) => e,
    )
    held.release()
    assert.ok(err instanceof PoolTimeoutError)
    assert.match(err.message, /timeout/)
    await p.end()
  })

  it('pool.query with a function as its only argument calls back with an error; null rejects', async () => {
    const p = pool()
    const err = await new Promise<unknown>((resolve) => {
      const returned = (p.query as unknown as (cb: (e: unknown) => void) => unknown)(resolve)
      assert.equal(returned, undefined)
    })
    assert.ok(err instanceof MisuseError)
    await assert.rejects(p.query(null as never), MisuseError)
    await p.end()
  })

  it('a failed query calls its callback once, with the error', async () => {
    const p = pool()
    const calls: unknown[][] = []
    p.query('SELECT 1/0', (...args: unknown[]) => calls.push(args))
    await eventually(() => calls.length > 0, 5_000, 'callback')
    // A second call (with a result) would come right after the first: give it the chance.
    assert.equal((await p.query<Row>('SELECT 1 AS n')).rows[0]?.n, 1)
    assert.equal(calls.length, 1)
    assert.equal((calls[0]?.[0] as { code?: string }).code, '22012')
    await p.end()
  })
})

describe('pgsteward/pg Pool: end()', () => {
  it('lets queries already issued finish, then refuses new work', async () => {
    const p = pool({ max: 2 })
    const issued = Array.from({ length: 12 }, (_, i) => p.query<Row>('SELECT $1::int AS n', [i]))
    await p.end()
    const results = await Promise.all(issued)
    assert.deepEqual(
      results.map((r) => r.rows[0]?.n),
      Array.from({ length: 12 }, (_, i) => i),
    )
    assert.equal(p.ended, true)
    await assert.rejects(p.query('SELECT 1') as Promise<unknown>, /closed/)
    await assert.rejects(p.connect(), /closed/)
    await assert.rejects(p.end(), /more than once/)
  })

  it('serves checkouts already waiting before it closes', async () => {
    const p = pool({ max: 1 })
    const first = await p.connect()
    const waiting = p.connect()
    const ended = p.end()
    first.release()
    const second = await waiting
    assert.equal((await second.query<Row>('SELECT 2 AS n')).rows[0]?.n, 2)
    second.release()
    await ended
    assert.equal(p.totalCount, 0)
  })
})

describe('pgsteward/pg Pool: events', () => {
  it('pool.query announces acquire and release with the client, as connect() does', async () => {
    const p = pool({ max: 2 })
    const acquired: Client[] = []
    const released: Client[] = []
    p.on('acquire', (client: Client) => acquired.push(client))
    p.on('release', (err: Error | undefined, client: Client) => {
      assert.equal(err, undefined)
      released.push(client)
    })
    await Promise.all(Array.from({ length: 5 }, () => p.query('SELECT 1')))
    const client = await p.connect()
    client.release()
    assert.equal(acquired.length, 6)
    assert.equal(released.length, 6)
    assert.ok(acquired.every((c) => typeof c.query === 'function'))
    await p.end()
  })

  it('a connection only pool.query used emits connect and, at its idle timeout, remove with the same client', async () => {
    const p = pool({ idleTimeoutMillis: 50 })
    const connected: Client[] = []
    const removed: Client[] = []
    p.on('connect', (c: Client) => connected.push(c))
    p.on('remove', (c: Client) => removed.push(c))
    await p.query('SELECT 1')
    await eventually(() => removed.length === 1, 5_000, 'remove after the idle timeout')
    assert.equal(connected.length, 1)
    assert.equal(removed[0], connected[0])
    assert.equal(p.totalCount, 0)
    await p.end()
  })

  it('an idle connection killed by the server is removed, then the pool emits error with the client', async () => {
    const p = pool({ application_name: 'compat-idle-kill' })
    const seen: { message: string; client: unknown; sameClient: boolean; total: number }[] = []
    const client = await p.connect()
    client.release()
    p.on('error', (err: Error & { client?: unknown }, c: unknown) =>
      seen.push({ message: err.message, client: c, sameClient: err.client === c, total: p.totalCount }),
    )
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'compat-idle-kill'`)
    await eventually(() => seen.length === 1, 5_000, 'pool error event')
    assert.match(seen[0]?.message ?? '', /terminating connection/)
    assert.equal(seen[0]?.client, client)
    assert.equal(seen[0]?.sameClient, true, 'err.client names the client too')
    assert.equal(seen[0]?.total, 0, 'removed before the event')
    assert.equal(Object.keys(new Error('x')).length, 0)
    assert.equal((await p.query<Row>('SELECT 1 AS n')).rows[0]?.n, 1, 'the pool goes on working')
    await p.end()
  })

  it('an error emitted on a released client removes it at once; on a checked-out client it is the client’s alone', async () => {
    const p = pool()
    const poolErrors: Error[] = []
    p.on('error', (err: Error) => poolErrors.push(err))
    const held = await p.connect()
    const heldErrors: Error[] = []
    held.on('error', (err: Error) => heldErrors.push(err))
    held.emit('error', new Error('while checked out'))
    assert.deepEqual(
      heldErrors.map((e) => e.message),
      ['while checked out'],
    )
    assert.equal(poolErrors.length, 0)
    assert.equal(p.totalCount, 1)
    held.release()
    held.emit('error', new Error('while idle'))
    assert.deepEqual(
      poolErrors.map((e) => e.message),
      ['while idle'],
    )
    assert.equal(p.totalCount, 0, 'removed synchronously')
    await p.end()
  })

  it('a connection killed while still busy with work its holder released reports "Connection terminated unexpectedly"', async () => {
    const p = pool({ application_name: 'compat-busy-kill' })
    const errors: Error[] = []
    p.on('error', (err: Error) => errors.push(err))
    const client = await p.connect()
    const sleeping = client.query('SELECT pg_sleep(30)').catch((e: unknown) => e)
    await eventually(async () => (await ctx.activity('compat-busy-kill')).some((a) => a.query.includes('pg_sleep(30)')), 5_000, 'sleep running')
    // Released mid-statement (as Kysely does after an abort): the pool is cleaning it when the kill lands.
    client.release()
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'compat-busy-kill'`)
    await eventually(() => errors.length > 0, 5_000, 'pool error event')
    assert.equal(errors.at(-1)?.message, 'Connection terminated unexpectedly')
    assert.ok((await sleeping) instanceof Error)
    assert.equal(p.totalCount, 0)
    await p.end()
  })
})

describe('pgsteward/pg Pool: a checked-out client whose connection is killed', () => {
  it('with nobody listening on the client: no crash; the pool reports it with the client once the client is released', async () => {
    const p = pool({ application_name: 'compat-killed-held' })
    const poolErrors: { message: string; client: unknown }[] = []
    p.on('error', (err: Error, client: unknown) => poolErrors.push({ message: err.message, client }))
    const client = await p.connect()
    const failed = client.query('SELECT pg_sleep(30)').then(
      () => undefined,
      (e: unknown) => e,
    )
    await eventually(async () => (await ctx.activity('compat-killed-held')).some((a) => a.query.includes('pg_sleep(30)')), 5_000, 'sleep running')
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'compat-killed-held'`)
    assert.match(String(await failed), /terminating connection/)
    await eventually(() => client.connection?.stream.destroyed === true, 5_000, 'socket closed')
    assert.equal(poolErrors.length, 0, 'not while the application still holds the client')
    client.release()
    assert.deepEqual(poolErrors, [{ message: 'Connection terminated unexpectedly', client }])
    assert.equal(p.totalCount, 0)
    await p.end()
  })

  it('with a listener on the client: the client hears it, the pool does not', async () => {
    const p = pool({ application_name: 'compat-killed-heard' })
    const poolErrors: Error[] = []
    p.on('error', (err: Error) => poolErrors.push(err))
    const client = await p.connect()
    const heard = new Promise<Error>((resolve) => client.once('error', resolve))
    await client.query('SELECT 1')
    await ctx.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'compat-killed-heard'`)
    assert.match((await heard).message, /terminating connection/)
    client.release()
    assert.equal(poolErrors.length, 0)
    assert.equal(p.totalCount, 0)
    await p.end()
  })
})

describe('pgsteward/pg Pool: the checked-out client', () => {
  it('end() closes its connection, and release() then drops it from the pool', async () => {
    const p = pool({ max: 1, application_name: 'compat-client-end' })
    const client = await p.connect()
    await client.end()
    client.release()
    assert.equal(p.totalCount, 0)
    assert.equal((await p.query<Row>('SELECT 1 AS n')).rows[0]?.n, 1)
    await p.end()
  })

  it('_clients lists the client of every open connection; ending one under a running pool.query fails that query, without a pool error', async () => {
    const p = pool({ max: 1, application_name: 'compat-end-under-query' })
    const poolErrors: Error[] = []
    p.on('error', (err: Error) => poolErrors.push(err))
    const outcome = new Promise<{ err: Error | undefined; res: unknown }>((resolve) =>
      p.query('SELECT pg_sleep(30)', [], (err: Error | undefined, res?: unknown) => resolve({ err, res })),
    )
    await eventually(async () => (await ctx.activity('compat-end-under-query')).some((a) => a.query.includes('pg_sleep(30)')), 5_000, 'sleep running')
    assert.equal(p._clients.length, 1)
    const ended = new Promise<void>((resolve) => p._clients[0]?.once('end', () => resolve()))
    await p._clients[0]?.end()
    const { err, res } = await outcome
    assert.ok(err instanceof Error)
    assert.equal(res, undefined)
    await ended
    assert.equal(poolErrors.length, 0, 'an end() asked for is no error')
    await eventually(() => p.totalCount === 0, 5_000, 'dropped from the pool')
    assert.equal((await p.query<Row>('SELECT 1 AS n')).rows[0]?.n, 1)
    await p.end()
  })

  it('connection is node-postgres’s Connection: ending it breaks the client, which reports an error and is dropped on release', async () => {
    const p = pool({ max: 1 })
    const client = await p.connect()
    const failed = new Promise<Error>((resolve) => client.once('error', resolve))
    client.connection?.end()
    assert.match((await failed).message, /terminated|closed/i)
    client.release()
    assert.equal(p.totalCount, 0)
    assert.equal((await p.query<Row>('SELECT 1 AS n')).rows[0]?.n, 1)
    await p.end()
  })
})

describe('pgsteward/pg Pool: options', () => {
  it('options (-c ...) reach the server; binary asks for binary results; pipeline and binary show on the client', async () => {
    await ctx.admin('CREATE SCHEMA IF NOT EXISTS compat_app')
    const p = pool({ options: '-c search_path=compat_app -c statement_timeout=4321', binary: true, pipeline: true })
    const client = await p.connect()
    assert.equal(client.binary, true)
    assert.equal(client.pipeline, true)
    const settings = await client.query<Row>("SELECT current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout")
    assert.deepEqual(settings.rows[0], { path: 'compat_app', timeout: '4321ms' })
    // As in node-postgres, binary applies to the extended protocol: a query with parameters.
    const typed = await client.query<Row>('SELECT $1::int4 AS n', [7])
    assert.equal(typed.fields[0]?.format, 'binary')
    assert.equal(typed.rows[0]?.n, 7)
    const [a, b, c] = await Promise.all([client.query<Row>('SELECT 1 AS n'), client.query<Row>('SELECT 2 AS n'), client.query<Row>('SELECT 3 AS n')])
    assert.deepEqual([a.rows[0]?.n, b.rows[0]?.n, c.rows[0]?.n], [1, 2, 3])
    client.release()
    await p.end()
  })

  it('defaults as pg.Pool: no pipelining, text results, a 10 s idle timeout', async () => {
    const p = pool()
    const client = await p.connect()
    assert.equal(client.pipeline, false)
    assert.equal(client.binary, false)
    assert.equal((await client.query('SELECT $1::int4 AS n', [1])).fields[0]?.format, 'text')
    client.release()
    assert.equal(p.db.options.pipelining, false)
    assert.equal(p.db.options.pool.idleTimeoutMs, 10_000)
    await p.end()
  })

  it('poolSize is read as max; maxLifetimeSeconds below the idle timeout is accepted and lowers it', async () => {
    const sized = pool({ poolSize: 3 })
    assert.equal(sized.db.options.pool.max, 3)
    const clients = await Promise.all([sized.connect(), sized.connect(), sized.connect()])
    assert.equal(sized.totalCount, 3)
    for (const c of clients) c.release()
    await sized.end()
    const short = pool({ maxLifetimeSeconds: 1, idleTimeoutMillis: 30_000 })
    assert.equal(short.db.options.pool.maxLifetimeMs, 1_000)
    assert.equal(short.db.options.pool.idleTimeoutMs, 1_000)
    let removed = false
    short.once('remove', () => (removed = true))
    await short.query('SELECT 1')
    // Polled: pgsteward's timers never keep a process alive, so a bare await on the pool's event would let this one exit.
    await eventually(() => removed, 10_000, 'remove at the end of the lifetime')
    assert.equal(short.totalCount, 0)
    await short.end()
  })

  it('keepAliveInitialDelayMillis and connectionTimeoutMillis are carried to the connection settings', async () => {
    const p = pool({ keepAliveInitialDelayMillis: 4_000, connectionTimeoutMillis: 2_500 })
    assert.equal(p.options.keepAliveInitialDelayMillis, 4_000)
    assert.equal(p.db.options.pool.acquireTimeoutMs, 2_500)
    assert.equal(p.db.options.pool.connectTimeoutMs, 2_500)
    await p.end()
  })

  it('allowExitOnIdle: true is accepted (pgsteward never keeps the process alive for idle connections); false is refused', async () => {
    const p = pool({ allowExitOnIdle: true })
    await p.end()
    assert.throws(
      () => new Pool({ connectionString: ctx.url, allowExitOnIdle: false }),
      (e: unknown) => e instanceof ConfigError && /allowExitOnIdle: false/.test(e.message),
    )
  })
})

describe('pgsteward/pg Pool: an exception thrown by application code in a callback', () => {
  // In a child process, so the exception can reach the process as it would in an application.
  const script = `
    import { Pool } from 'pgsteward/pg'
    const seen = []
    process.on('uncaughtException', (err) => seen.push('uncaught ' + err.message))
    process.on('unhandledRejection', (err) => seen.push('unhandled ' + err.message))
    const pool = new Pool({ connectionString: process.env.COMPAT_URL })
    pool.query('SELECT 1', () => { throw new Error('from a query callback') })
    pool.query('SELECT 1/0', () => { throw new Error('from a failed query callback') })
    pool.connect((err, client, release) => { release(); throw new Error('from a connect callback') })
    await new Promise((resolve) => setTimeout(resolve, 500))
    pool.end(() => { throw new Error('from an end callback') })
    await new Promise((resolve) => setTimeout(resolve, 500))
    console.log(JSON.stringify(seen.sort()))
  `

  it('reaches the process as an uncaught exception, as with pg-pool, never as an unhandled rejection', async () => {
    const cwd = fileURLToPath(new URL('.', import.meta.url))
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { cwd, env: { ...process.env, COMPAT_URL: ctx.url }, timeout: 60_000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      ),
    )
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]'), [
      'uncaught from a connect callback',
      'uncaught from a failed query callback',
      'uncaught from a query callback',
      'uncaught from an end callback',
    ])
  })
})
