import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { ConfigError } from 'pgsteward'
import { Pool } from 'pgsteward/pg'
import { setup } from './support.ts'

const ctx = await setup('pg_drop_in')

describe("'pgsteward/pg' Pool: pg.Pool's constructor", () => {
  it("takes pg.Pool's options and maps them onto pgsteward's", async () => {
    const pool = new Pool({
      connectionString: ctx.url,
      max: 4,
      min: 1,
      idleTimeoutMillis: 20_000,
      connectionTimeoutMillis: 3_000,
      maxLifetimeSeconds: 60,
      application_name: 'drop-in',
    })
    after(() => pool.end())
    const opts = pool.db.options
    assert.equal(opts.pool.max, 4)
    assert.equal(opts.pool.min, 1)
    assert.equal(opts.pool.idleTimeoutMs, 20_000)
    assert.equal(opts.pool.acquireTimeoutMs, 3_000)
    assert.equal(opts.pool.maxLifetimeMs, 60_000)
    const r = await pool.query<{ app: string }>('SELECT current_setting($1) AS app', ['application_name'])
    assert.equal(r.rows[0]?.app, 'drop-in')
  })

  it('bounds the wait pg.Pool would leave unbounded (connectionTimeoutMillis: 0)', () => {
    const pool = new Pool({ connectionString: ctx.url, connectionTimeoutMillis: 0 })
    assert.equal(pool.db.options.pool.acquireTimeoutMs, 10_000)
    void pool.end()
  })

  it('rejects options it would not honour, each with what to do instead', () => {
    assert.throws(
      () =>
        new Pool({
          connectionString: ctx.url,
          maxUses: 100,
          Client: class {},
          onConnect: () => undefined,
          verify: () => undefined,
          log: () => undefined,
        } as never),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 5 &&
        /maxUses is not supported: use maxLifetimeSeconds/.test(err.message) &&
        /custom Client class/.test(err.message) &&
        /onConnect is not supported: pgsteward resets session state/.test(err.message) &&
        /verify is not supported/.test(err.message) &&
        /log: pg-pool debug logging is not supported/.test(err.message),
    )
  })
})
