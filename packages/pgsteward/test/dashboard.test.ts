import assert from 'node:assert/strict'
import http, { type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { MisuseError, sql, type Database } from 'pgsteward'
import { createDashboard, type Dashboard } from 'pgsteward/dashboard'
import { internalsOf } from '../dist/database-internals.js'
import { setup } from './support.ts'

const ctx = await setup('dashboard')
const servers: http.Server[] = []
after(() => {
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
})

async function serve(dashboard: Dashboard): Promise<string> {
  const server = http.createServer((req, res) => {
    if (!dashboard.handle(req, res)) res.writeHead(418).end('not the dashboard')
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function get(url: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .request(url, { method }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      })
      .on('error', reject)
      .end()
  })
}

interface Frame {
  event: string
  data: any
}

/** An SSE reader: frames in order, awaited one at a time. */
async function openStream(url: string): Promise<{ status: number; next(event?: string): Promise<Frame>; ended: Promise<void>; close(): void }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => http.get(url, resolve).on('error', reject))
  const frames: Frame[] = []
  let wake: (() => void) | undefined
  let buffer = ''
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => {
    buffer += chunk
    let cut
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (event !== undefined) frames.push({ event, data: JSON.parse(data ?? 'null') })
    }
    wake?.()
  })
  const ended = new Promise<void>((resolve) => res.on('end', resolve).on('close', resolve))
  return {
    status: res.statusCode ?? 0,
    async next(event) {
      for (;;) {
        const index = frames.findIndex((f) => event === undefined || f.event === event)
        if (index >= 0) return frames.splice(0, index + 1).at(-1) as Frame
        await new Promise<void>((resolve) => (wake = resolve))
      }
    },
    ended,
    close: () => res.destroy(),
  }
}

/** The next sample that satisfies `check`. */
async function sampleWhere(stream: Awaited<ReturnType<typeof openStream>>, check: (sample: any) => boolean): Promise<any> {
  for (;;) {
    const frame = await stream.next('sample')
    if (check(frame.data)) return frame.data
  }
}

const listeners = (db: Database, event: 'query' | 'acquire'): number => internalsOf(db).pool.listenerCount(event)

describe('the dashboard handler', () => {
  it('serves one self-contained page under its base path, with a strict CSP', async () => {
    const db = ctx.open()
    const base = await serve(createDashboard(db, { basePath: '/ops/pool/', title: 'Classroom <pool>' }))
    for (const path of ['/ops/pool', '/ops/pool/']) {
      const page = await get(base + path)
      assert.equal(page.status, 200)
      assert.match(String(page.headers['content-type']), /^text\/html/)
      assert.match(page.body, /<title>Classroom &#60;pool&#62;: pool<\/title>/)
      assert.match(page.body, /data-events="\/ops\/pool\/events"/)
      assert.doesNotMatch(page.body, /(src|href)=["']?(https?:)?\/\//, 'nothing loaded from elsewhere')
      const csp = String(page.headers['content-security-policy'])
      assert.match(csp, /default-src 'none'/)
      assert.match(csp, /script-src 'sha256-[^']+'/)
      assert.equal(page.headers['cache-control'], 'no-store')
    }
    assert.equal((await get(`${base}/ops/pool`, 'HEAD')).body, '')
    assert.equal((await get(`${base}/ops/pool`, 'POST')).status, 405)
    assert.equal((await get(`${base}/ops/pool/nothing`)).status, 404)
    assert.equal((await get(`${base}/ops/poolside`)).status, 418, 'a neighbouring path is not the dashboard')
    assert.equal((await get(`${base}/elsewhere`)).status, 418)
  })

  it('streams samples: connections, waiters, holders with call sites, statements and the slowest', async () => {
    const db = ctx.open({ pool: { max: 1 }, callSites: 'always' })
    const base = await serve(createDashboard(db, { basePath: '/dash', intervalMs: 200 }))
    const stream = await openStream(`${base}/dash/events`)
    assert.equal(stream.status, 200)
    assert.ok(Array.isArray((await stream.next('history')).data))
    const first = await stream.next('sample')
    assert.deepEqual(first.data.connections, { idle: 0, used: 0, connecting: 0, total: 0, max: 1 })

    await db.query(sql`SELECT pg_sleep(0.2), ${'secret'}::text AS hidden`)
    let release: () => void = () => undefined
    const holding = db.session(() => new Promise<void>((resolve) => (release = resolve)))
    const waiter = db.query(sql`SELECT 1`)
    // A sample of the session holding the connection, not an earlier one (the first connection's check, with the first statement waiting, looks alike).
    const busy = await sampleWhere(stream, (s) => s.connections.used === 1 && s.waiting === 1 && s.holders[0]?.state !== 'validating')
    const [holder] = busy.holders
    assert.equal(holder.state, 'exclusive')
    assert.match(holder.site, /dashboard\.test\.ts/, 'the call site names the code that holds the connection')
    assert.ok((busy.slowest as { sql: string; maxMs: number }[]).some((q) => q.sql === 'SELECT pg_sleep(0.2), $1::text AS hidden' && q.maxMs >= 200))
    assert.doesNotMatch(JSON.stringify(busy), /secret/)
    release()
    await holding
    await waiter
    for (let i = 0; i < 50; i++) await db.query(sql`SELECT ${i}::int`)
    const after = await sampleWhere(stream, (s) => s.statements.perSecond > 0 && s.connections.used === 0)
    assert.equal(after.waiting, 0)
    assert.ok(after.acquireWaitMs.count >= 1)
    stream.close()
  })

  it('shares one sampler between pages, and lets go of the pool when the last page leaves', async () => {
    const db = ctx.open()
    const dashboard = createDashboard(db, { intervalMs: 200 })
    const other = createDashboard(db, { basePath: '/second', intervalMs: 200 })
    const base = await serve(dashboard)
    const otherBase = await serve(other)
    assert.equal(listeners(db, 'query'), 0)
    assert.equal(internalsOf(db).pool.instrumentation.active, false)
    const a = await openStream(`${base}/dashboard/events`)
    const b = await openStream(`${base}/dashboard/events`)
    const c = await openStream(`${otherBase}/second/events`)
    await Promise.all([a.next('sample'), b.next('sample'), c.next('sample')])
    assert.equal(dashboard.clients, 2)
    assert.equal(listeners(db, 'query'), 1, 'one sampler for every page')
    assert.equal(listeners(db, 'acquire'), 1)
    for (const s of [a, b, c]) s.close()
    const deadline = Date.now() + 5_000
    while ((dashboard.clients > 0 || other.clients > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    assert.equal(dashboard.clients + other.clients, 0, 'pages that went away are dropped')
    assert.equal(listeners(db, 'query'), 0)
    assert.equal(listeners(db, 'acquire'), 0)
    assert.equal(internalsOf(db).pool.instrumentation.active, false)
  })

  it('bounds the pages, ends streams at expiry and on close', async () => {
    const db = ctx.open()
    const dashboard = createDashboard(db, { maxClients: 1 })
    const base = await serve(dashboard)
    const only = await openStream(`${base}/dashboard/events`)
    await only.next('sample')
    const refused = await get(`${base}/dashboard/events`)
    assert.equal(refused.status, 503)
    assert.match(refused.body, /maxClients 1/)
    dashboard.close()
    assert.equal((await only.next('closed')).event, 'closed')
    await only.ended
    assert.equal((await get(`${base}/dashboard/events`)).status, 503)

    const expiring = createDashboard(db, { basePath: '/expiring' })
    const server = http.createServer((req, res) => void expiring.handle(req, res, { streamUntil: Date.now() + 300 }))
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const stream = await openStream(`http://127.0.0.1:${(server.address() as AddressInfo).port}/expiring/events`)
    assert.equal((await stream.next('expired')).event, 'expired')
    await stream.ended
  })

  it('ends its streams when the database closes, and refuses new ones', async () => {
    const db = ctx.open()
    const dashboard = createDashboard(db, { basePath: '/closing', intervalMs: 200 })
    const base = await serve(dashboard)
    const stream = await openStream(`${base}/closing/events`)
    await stream.next('sample')
    await db.close()
    assert.equal((await stream.next('closed')).event, 'closed')
    await stream.ended
    assert.equal(dashboard.clients, 0)
    assert.equal((await get(`${base}/closing/events`)).status, 503)
  })

  it('works as Express-style middleware and as a Fastify-style handler', async () => {
    const db = ctx.open()
    const dashboard = createDashboard(db)
    let passed = false
    const server = http.createServer((req, res) => {
      // What Express does for app.use('/dashboard', ...): the mount path is cut from req.url, the full one kept in originalUrl.
      const originalUrl = req.url ?? '/'
      if (originalUrl.startsWith('/dashboard')) Object.assign(req, { originalUrl, url: originalUrl.slice('/dashboard'.length) || '/' })
      dashboard.middleware(req, res, () => {
        passed = true
        res.writeHead(204).end()
      })
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    assert.equal((await get(`${base}/dashboard`)).status, 200)
    assert.equal((await get(`${base}/other`)).status, 204)
    assert.equal(passed, true)

    let hijacked = false
    const fastifyServer = http.createServer((raw, rawReply) => dashboard.fastify({ raw }, { raw: rawReply, hijack: () => (hijacked = true) }))
    servers.push(fastifyServer)
    await new Promise<void>((resolve) => fastifyServer.listen(0, '127.0.0.1', resolve))
    const page = await get(`http://127.0.0.1:${(fastifyServer.address() as AddressInfo).port}/dashboard`)
    assert.equal(page.status, 200)
    assert.equal(hijacked, true)
  })

  it('refuses a base path or interval it cannot serve, naming the fix', () => {
    const db = ctx.open()
    assert.throws(
      () => createDashboard(db, { basePath: 'dashboard' }),
      (err: unknown) => err instanceof MisuseError && /basePath "dashboard" must be a path/.test(err.message),
    )
    assert.throws(() => createDashboard(db, { basePath: '/a b' }), MisuseError)
    assert.throws(() => createDashboard(db, { intervalMs: 10 }), /at least 200/)
    assert.throws(() => createDashboard({} as Database), /Not a pgsteward database/)
  })
})
