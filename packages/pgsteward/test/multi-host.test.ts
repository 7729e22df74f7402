/**
 * Issue 16, several servers: libpq's multi-host connection strings against a real primary and a
 * real streaming standby. Each `target_session_attrs` value must land where libpq would put it:
 * hosts are tried in order (shuffled with `load_balance_hosts=random`), a host that does not
 * answer or does not fit is skipped, and prefer-standby falls back to a primary when no standby
 * is listed.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { freePort, startFaultProxy, startReplicatedPair, withClient } from '@pgsteward/testkit'
import { ConnectionError, createDatabase, sql, type Database, type DatabaseOptions } from 'pgsteward'
import { warm } from './support.ts'

const pair = await startReplicatedPair()
const P = pair.primary.port
const S = pair.standby.port
const { username: user, password } = new URL(pair.primary.url)
/** Nothing listens here: a connection attempt is refused at once. */
const DEAD = await freePort()

/** A database whose sessions start read-only on the primary too (default_transaction_read_only), replicated to the standby. */
await withClient(pair.primary.url, async (c) => {
  await c.query('CREATE DATABASE readonly_db')
  await c.query('ALTER DATABASE readonly_db SET default_transaction_read_only = on')
})
await pair.waitForReplay()

const opened: Database[] = []
after(async () => {
  await Promise.all(opened.map((db) => db.close({ timeoutMs: 2_000 })))
})

function open(connectionString: string, options: Omit<DatabaseOptions, 'connectionString'> = {}): Database {
  const db = createDatabase({ connectionString, ...options })
  opened.push(db)
  return db
}

/** `postgres://user:pw@127.0.0.1:p1,127.0.0.1:p2/db?params`. */
function multiUrl(ports: readonly number[], params = '', database = 'postgres'): string {
  return `postgres://${user}:${password}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${database}${params ? `?${params}` : ''}`
}

/** Which server a one-shot statement ran on. */
async function landedOn(db: Database): Promise<{ port: number; standby: boolean }> {
  return db.one<{ port: number; standby: boolean }>(sql`SELECT inet_server_port() AS port, pg_is_in_recovery() AS standby`)
}

describe('multi-host connection strings on a real primary and standby', () => {
  it('keyword form host=a,b port=1,2: hosts are paired with ports and tried in order', async () => {
    const quoted = `'${decodeURIComponent(password).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
    const keywords = `host=127.0.0.1,127.0.0.1 port=${S},${P} user=${user} password=${quoted} dbname=postgres target_session_attrs=read-write`
    const db = open(keywords)
    assert.deepEqual(db.options.hosts, [
      { host: '127.0.0.1', port: S },
      { host: '127.0.0.1', port: P },
    ])
    assert.deepEqual(await landedOn(db), { port: P, standby: false })
  })

  it('URL form postgres://h1:p1,h2:p2/db', async () => {
    const db = open(multiUrl([S, P], 'target_session_attrs=primary'))
    assert.deepEqual(await landedOn(db), { port: P, standby: false })
  })

  // [hosts in order, target_session_attrs, where libpq connects]
  const cases: [string, number[], string, number][] = [
    ['any takes the first host, a primary', [P, S], 'any', P],
    ['any takes the first host, even a standby', [S, P], 'any', S],
    ['read-write skips a standby', [S, P], 'read-write', P],
    ['primary skips a standby', [S, P], 'primary', P],
    ['read-only skips a read-write primary', [P, S], 'read-only', S],
    ['standby skips a primary', [P, S], 'standby', S],
    ['prefer-standby takes a standby listed after a primary', [P, S], 'prefer-standby', S],
    ['prefer-standby takes a standby listed first', [S, P], 'prefer-standby', S],
    ['prefer-standby falls back to a primary when no standby is listed', [DEAD, P], 'prefer-standby', P],
    ['a dead first host is skipped', [DEAD, S, P], 'read-write', P],
    ['a dead first host is skipped (standby)', [DEAD, P, S], 'standby', S],
  ]
  for (const [title, ports, target, expected] of cases) {
    it(`target_session_attrs=${target}: ${title}`, async () => {
      const db = open(multiUrl(ports, `target_session_attrs=${target}`))
      assert.equal(db.options.targetSessionAttrs, target)
      const where = await landedOn(db)
      assert.deepEqual(where, { port: expected, standby: expected === S })
    })
  }

  it('no listed host fits: a ConnectionError that names what target_session_attrs asked for and what each server is', async () => {
    const db = open(multiUrl([P], 'target_session_attrs=standby'), { pool: { acquireTimeoutMs: 1_500 } })
    const err = await db.query(sql`SELECT 1`).catch((e: unknown) => e)
    assert.ok(err instanceof ConnectionError, `got ${String(err)}`)
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${P} is a read-write primary, not what target_session_attrs=standby asks for`))
  })

  it('read-only and read-write look at default_transaction_read_only; primary and standby at recovery', async () => {
    // On readonly_db the primary's sessions are read-only by default: libpq's read-only accepts it, read-write does not.
    const readOnly = open(multiUrl([P, S], 'target_session_attrs=read-only', 'readonly_db'))
    assert.deepEqual(await landedOn(readOnly), { port: P, standby: false })
    const primary = open(multiUrl([P, S], 'target_session_attrs=primary', 'readonly_db'))
    assert.deepEqual(await landedOn(primary), { port: P, standby: false })
    const standby = open(multiUrl([P, S], 'target_session_attrs=standby', 'readonly_db'))
    assert.deepEqual(await landedOn(standby), { port: S, standby: true })
    const readWrite = open(multiUrl([P, S], 'target_session_attrs=read-write', 'readonly_db'), { pool: { acquireTimeoutMs: 1_500 } })
    const err = await readWrite.query(sql`SELECT 1`).catch((e: unknown) => e)
    assert.ok(err instanceof ConnectionError, `got ${String(err)}`)
    assert.match(err.message, /is read-only, not what target_session_attrs=read-write asks for|is a standby, not what target_session_attrs=read-write asks for/)
  })

  it('a first host that accepts the connection and then never answers is skipped after connect_timeout, as libpq does per host', async () => {
    const silent = await startFaultProxy(pair.primary.url)
    silent.blackhole()
    // connect_timeout (seconds) bounds each host, not the whole list: the standby still gets its turn.
    const db = open(multiUrl([silent.port, S], 'connect_timeout=2'), { pool: { acquireTimeoutMs: 60_000 } })
    assert.deepEqual(await landedOn(db), { port: S, standby: true })
    assert.ok(silent.accepted >= 1, 'the silent host was tried first')
    // pool.connectTimeoutMs is the same per-host limit.
    const accepted = silent.accepted
    const db2 = open(multiUrl([silent.port, S]), { pool: { connectTimeoutMs: 2_000, acquireTimeoutMs: 60_000 } })
    assert.deepEqual(await landedOn(db2), { port: S, standby: true })
    assert.ok(silent.accepted > accepted, 'the silent host was tried first')
  })

  async function portsOf(db: Database, applicationName: string): Promise<{ primary: number; standby: number }> {
    await warm(db)
    const count = async (url: string): Promise<number> =>
      withClient(url, async (c) =>
        Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName])).rows[0]?.n),
      )
    return { primary: await count(pair.primary.url), standby: await count(pair.standby.url) }
  }

  it('load_balance_hosts=random spreads connections over the hosts; without it every connection goes to the first', async () => {
    const n = 24
    const ordered = open(multiUrl([P, S], 'application_name=lb_ordered'), { pool: { min: n, max: n } })
    assert.deepEqual(await portsOf(ordered, 'lb_ordered'), { primary: n, standby: 0 })
    // Each connection shuffles the list on its own: all 24 on one host has odds of 1 in 8 million.
    const random = open(multiUrl([P, S], 'load_balance_hosts=random&application_name=lb_random'), { pool: { min: n, max: n } })
    const spread = await portsOf(random, 'lb_random')
    assert.equal(spread.primary + spread.standby, n)
    assert.ok(spread.primary > 0 && spread.standby > 0, `both hosts used: ${JSON.stringify(spread)}`)
  })
})
