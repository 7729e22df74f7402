/**
 * Runs the classroom service in-process against a fresh database and data directory, listening on
 * a loopback port of its own, so tests use real HTTP and WebSocket clients. Everything is torn
 * down when the test file ends.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { createTestDatabase, withClient } from '@pgsteward/testkit'
import { createDatabase, type Database } from 'pgsteward'
import { buildApp, type AppOptions } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import { serviceToken } from '../src/auth/authenticate.ts'
import { migrateUp } from '../src/migrate.ts'

/** A JSON reply; `body` is loosely typed because tests read whatever fields they assert on. */
export interface Reply {
  status: number
  body: any
  headers: Headers
}

export interface Service {
  /** http://127.0.0.1:port */
  url: string
  /** ws://127.0.0.1:port */
  wsUrl: string
  config: Config
  db: Database
  /** The service's database URL (superuser). */
  databaseUrl: string
  app: FastifyInstance
  /** Run SQL as superuser on the service's database (assertions on rows). */
  sql<T>(text: string, values?: unknown[]): Promise<T[]>
  /** Log in through the API; returns the access token and user id. */
  login(username: string, groups?: string[]): Promise<{ token: string; refreshToken: string; userId: number }>
  /** `Authorization: Service <token>` for internal callers. */
  serviceAuth: string
  /** fetch against the service with JSON in and out. */
  request(method: string, route: string, options?: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: Buffer }): Promise<Reply>
}

export async function startService(
  options: { faults?: AppOptions['faults']; env?: Record<string, string>; sweepIntervalMs?: number; databaseUrl?: string } = {},
): Promise<Service> {
  // A database of a server of the test's own (one it stops), or a fresh one on the shared server.
  const url = options.databaseUrl ?? (await createTestDatabase('classroom'))
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'classroom-test-'))
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    JWT_SECRET: randomBytes(32).toString('hex'),
    SERVICE_SECRET: randomBytes(32).toString('hex'),
    DB_POOL_MAX: '10',
    ...options.env,
  })
  const db = createDatabase({ connectionString: url, applicationName: 'classroom-test', pool: { max: config.dbPoolMax } })
  await migrateUp(db)
  const app = await buildApp({ config, db, databaseUrl: url, faults: options.faults, sweepIntervalMs: options.sweepIntervalMs })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no address')
  after(async () => {
    await app.close()
    await db.close()
    await rm(dataDir, { recursive: true, force: true })
  })
  const base = `http://127.0.0.1:${address.port}`
  const request: Service['request'] = async (method, route, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    let body: NonNullable<Parameters<typeof fetch>[1]>['body']
    if (opts.raw !== undefined) {
      body = opts.raw
      headers['content-type'] ??= 'application/octet-stream'
    } else if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
      headers['content-type'] ??= 'application/json'
    }
    const res = await fetch(`${base}${route}`, { method, headers, body })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed, headers: res.headers }
  }
  return {
    url: base,
    wsUrl: `ws://127.0.0.1:${address.port}`,
    config,
    db,
    databaseUrl: url,
    app,
    sql: <T>(text: string, values?: unknown[]) => withClient(url, async (c) => (await c.query(text, values)).rows as T[]),
    request,
    serviceAuth: `Service ${serviceToken(config.serviceSecret)}`,
    async login(username, groups = []) {
      const res = await request('POST', '/auth/login', { body: { username, groups } })
      if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`)
      const body = res.body as { accessToken: string; refreshToken: string; user: { id: number } }
      return { token: body.accessToken, refreshToken: body.refreshToken, userId: body.user.id }
    },
  }
}
