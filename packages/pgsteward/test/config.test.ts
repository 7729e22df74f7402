import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, createDatabase, type DatabaseOptions } from 'pgsteward'
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
      (err: unknown) => err instanceof ConfigError && /password must be a string or a function returning one, got a number/.test(err.message) && !err.message.includes('12345678'),
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
