import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, ConnectionError, MisuseError, createDatabase, sql, type DatabaseOptions } from 'pgsteward'
import { setup } from './support.ts'

const ctx = await setup('config')

/** Each bad configuration and a pattern its ConfigError message must contain. */
const BAD: [string, unknown, RegExp][] = [
  ['unknown top-level key with a suggestion', { conectionString: 'postgres://x/y' }, /Unknown option conectionString\. Did you mean connectionString\?/],
  ['pg.Pool option name mapped to ours', { idleTimeoutMillis: 1000 }, /Unknown option idleTimeoutMillis\. Did you mean pool\.idleTimeoutMs\?/],
  ['unknown pool key with a suggestion', { pool: { maxx: 3 } }, /Unknown option pool\.maxx\. Did you mean pool\.max\?/],
  ['unknown pool key far from any', { pool: { banana: 1 } }, /Unknown option pool\.banana\. Valid options in pool: max, min/],
  ['max not a number', { pool: { max: '10' } }, /pool\.max must be a non-negative integer, got "10"/],
  ['max zero', { pool: { max: 0 } }, /pool\.max must be at least 1/],
  ['min above max', { pool: { min: 5, max: 2 } }, /pool\.min \(5\) is greater than pool\.max \(2\)/],
  ['negative timeout', { pool: { acquireTimeoutMs: -1 } }, /pool\.acquireTimeoutMs must be a non-negative integer number of milliseconds, got -1/],
  ['zero acquire timeout', { pool: { acquireTimeoutMs: 0 } }, /every wait for a connection needs a limit/],
  ['fractional ms', { pool: { idleTimeoutMs: 1.5 } }, /pool\.idleTimeoutMs must be a non-negative integer/],
  ['lifetime under a second', { pool: { maxLifetimeMs: 10, idleTimeoutMs: 0 } }, /under one second/],
  ['jitter out of range', { pool: { maxLifetimeJitter: 0.9 } }, /pool\.maxLifetimeJitter must be a number from 0 to 0\.5/],
  ['leak detection too small', { pool: { leakDetectionMs: 1 } }, /reports every borrower as a leak/],
  ['port out of range', { host: 'localhost', port: 70000 }, /port must be an integer from 1 to 65535, got 70000/],
  ['malformed URL', { connectionString: 'not a url' }, /connectionString is neither a postgres:\/\/ URL nor a list of keyword=value settings/],
  ['wrong URL scheme', { connectionString: 'mysql://u@h/d' }, /must start with postgres:\/\/ or postgresql:\/\//],
  ['bad sslmode', { connectionString: 'postgres://u@h/d?sslmode=maybe' }, /sslmode=maybe .* is not a libpq sslmode/],
  ['URL and host together', { connectionString: 'postgres://u@h/d', host: 'other' }, /Both connectionString and host\/port\/database are set/],
  ['strict not boolean', { strict: 'yes' }, /strict must be true or false, got "yes"/],
  ['callSites not a known mode', { callSites: true }, /callSites must be 'always' or 'after-first-error', got true/],
  ['retry base above cap', { retry: { baseDelayMs: 500, maxDelayMs: 100 } }, /retry\.baseDelayMs \(500\) is greater than retry\.maxDelayMs \(100\)/],
  ['options not an object', 'postgres://u@h/d', /createDatabase expects an options object/],
]

describe('configuration validation', () => {
  for (const [name, options, expected] of BAD) {
    it(`rejects: ${name}`, () => {
      assert.throws(
        () => createDatabase(options as DatabaseOptions),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `got ${String(err)}`)
          assert.equal(err.code, 'CONFIG_INVALID')
          assert.match(err.message, expected)
          return true
        },
      )
    })
  }

  it('lists every problem at once', () => {
    assert.throws(
      () => createDatabase({ pool: { max: '3', acquireTimeoutMs: -5 }, statementTimeout: 5 } as unknown as DatabaseOptions),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 3,
    )
  })

  it('never prints the password it rejects', () => {
    assert.throws(
      () => createDatabase({ password: 12345678 } as unknown as DatabaseOptions),
      (err: unknown) =>
        err instanceof ConfigError &&
        /password must be a string or a function returning one, got a number/.test(err.message) &&
        !err.message.includes('12345678'),
    )
  })

  it('reads DATABASE_URL when no connection is given', async () => {
    const saved = process.env.DATABASE_URL
    process.env.DATABASE_URL = ctx.url
    try {
      const db = createDatabase({ applicationName: 'from-env' })
      try {
        assert.equal(db.options.database, new URL(ctx.url).pathname.slice(1))
        await db.ready()
      } finally {
        await db.close()
      }
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL
      else process.env.DATABASE_URL = saved
    }
  })

  it('warns on first connect when pool.max exceeds what the server can give, and fails with strict', async () => {
    const [{ max }] = (await ctx.admin<{ max: number }>(`SELECT current_setting('max_connections')::int AS max`)) as [{ max: number }]
    const lenient = ctx.open({ pool: { max: max + 50 } })
    const warning = new Promise<ConfigError>((resolve) => lenient.once('warning', resolve))
    await lenient.ready()
    const w = await warning
    assert.match(w.message, new RegExp(`pool\\.max is ${max + 50} but the server can give at most \\d+ more connections \\(max_connections ${max}`))

    const strict = ctx.open({ pool: { max: max + 50 }, strict: true })
    await assert.rejects(strict.ready(), (err: unknown) => err instanceof ConfigError && /pool\.max is/.test(err.message))
    await assert.rejects(strict.ready(), ConfigError, 'stays failed: the configuration cannot work')

    const fine = ctx.open({ pool: { max: 5 }, strict: true })
    await fine.ready()
  })
})

describe('configuration defects (issue 13, defect 9)', () => {
  it('per-transaction options are checked: unknown names and bad retry values are a MisuseError', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await assert.rejects(
      db.transaction(async () => undefined, { retry: { max: -3 } }),
      (e: unknown) => e instanceof MisuseError && /retry\.max must be a non-negative integer, got -3/.test(e.message),
    )
    await assert.rejects(
      db.transaction(async () => undefined, { retry: { maxx: 3 } } as never),
      (e: unknown) => e instanceof MisuseError && /Unknown option retry\.maxx\. Did you mean retry\.max\?/.test(e.message),
    )
    await assert.rejects(
      db.session(async () => undefined, { isolation: 'serializable' } as never),
      (e: unknown) => e instanceof MisuseError && /Unknown option isolation/.test(e.message),
    )
    await assert.rejects(
      db.transaction(async () => undefined, { isolation: 'snapshot' } as never),
      MisuseError,
    )
  })

  it('lists type errors and contradictions together', () => {
    assert.throws(
      () => createDatabase({ strict: 'yes', pool: { min: 5, max: 2 } } as unknown as DatabaseOptions),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 2 &&
        /strict must be/.test(err.message) &&
        /pool\.min \(5\) is greater than pool\.max \(2\)/.test(err.message),
    )
  })

  it('PGSSLMODE with a value libpq does not know is refused', () => {
    assert.throws(
      () => resolveWith({ connectionString: ctx.url }, { PGSSLMODE: 'bogus' }),
      (err: unknown) => err instanceof ConfigError && /sslmode=bogus \(PGSSLMODE\) is not a libpq sslmode/.test(err.message),
    )
  })

  it('PGAPPNAME is the application name when none is given', async () => {
    const saved = process.env.PGAPPNAME
    process.env.PGAPPNAME = 'from-pgappname'
    try {
      const db = createDatabase({ connectionString: ctx.url })
      try {
        assert.equal(db.options.applicationName, 'from-pgappname')
        assert.deepEqual(await db.one(sql`SELECT current_setting('application_name') AS app`), { app: 'from-pgappname' })
      } finally {
        await db.close()
      }
    } finally {
      if (saved === undefined) delete process.env.PGAPPNAME
      else process.env.PGAPPNAME = saved
    }
  })

  it('connection parameters pgsteward does not implement are refused, each with what to do', () => {
    assert.throws(
      () => createDatabase({ connectionString: `${ctx.url}?statement_timeout=100&gssencmode=prefer&frobnicate=1` }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 3 &&
        /statement_timeout in connectionString is not supported by pgsteward: use the statementTimeoutMs option/.test(err.message) &&
        /gssencmode/.test(err.message) &&
        /frobnicate in connectionString is not supported by pgsteward: remove it/.test(err.message),
    )
    // target_session_attrs and load_balance_hosts are honoured, not refused.
    const db = createDatabase({ connectionString: `${ctx.url}?target_session_attrs=read-write&load_balance_hosts=random` })
    assert.equal(db.options.targetSessionAttrs, 'read-write')
    void db.close()
  })

  it('sslmode=require against a server without TLS fails at start-up with the reason, not at the acquire timeout', async () => {
    const db = createDatabase({ connectionString: `${ctx.url}?sslmode=require`, pool: { acquireTimeoutMs: 60_000 } })
    try {
      const err = await db.ready().catch((e: unknown) => e)
      assert.ok(err instanceof ConnectionError, `got ${String(err)}`)
      assert.match(err.message, /does not support SSL/)
    } finally {
      await db.close()
    }
  })

  it('a multi-host URL is accepted, and the hosts are tried in order', async () => {
    const url = new URL(ctx.url)
    // The first host refuses connections (nothing listens on port 1): the second one answers.
    const multi = `postgres://${url.username}:${url.password}@127.0.0.1:1,${url.host}${url.pathname}`
    const db = createDatabase({ connectionString: multi })
    try {
      assert.deepEqual(
        db.options.hosts.map((h) => h.port),
        [1, Number(url.port)],
      )
      assert.deepEqual(await db.one(sql`SELECT 1 AS n`), { n: 1 })
    } finally {
      await db.close()
    }
  })
})

/** createDatabase with a given environment (the library reads process.env). */
function resolveWith(options: DatabaseOptions, env: Record<string, string>): void {
  const saved: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k]
    process.env[k] = v
  }
  try {
    void createDatabase(options).close()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}
