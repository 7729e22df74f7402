/**
 * A live pool dashboard (`pgsteward/dashboard`): one self-contained page that streams the pool's
 * state with Server-Sent Events: connections by state, waiters, acquire-wait percentiles, who
 * holds each connection and since when (with call sites where recorded), leaks, timeouts,
 * statements per second and the slowest statements (text only, never values). Mount it in
 * plain `http`, Express or Fastify.
 *
 * It shows SQL text, call sites (file paths of your code) and the pool's load: never mount it
 * open. Authentication and authorisation are the mounting application's job; check them on both
 * the page and its stream (`{basePath}/events`). Browsers cannot send headers with an
 * EventSource, so the page opens its stream with its own query string: an application that
 * authenticates the page by a token in the query string (or by a cookie) gets the same
 * credentials on the stream.
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Database } from './database.js'
import { internalsOf, type DatabaseInternals } from './database-internals.js'
import { dashboardPage, PAGE_CSP } from './dashboard/dashboard-page.js'
import { PoolSampler, type SampleSubscriber } from './dashboard/pool-sampler.js'
import { MisuseError } from './errors/error-classes.js'

/**
 * Options of `createDashboard`.
 * @example
 * ```ts
 * createDashboard(db, { basePath: '/ops/pool', title: 'orders service', intervalMs: 2_000, maxClients: 5 })
 * ```
 */
export interface DashboardOptions {
  /** The path the dashboard answers under: the page at `basePath`, its stream at `basePath/events`. (Default: '/dashboard') */
  basePath?: string
  /** The page's heading. (Default: the database's applicationName) */
  title?: string
  /** How often the page is updated, in milliseconds, from 200 up. (Default: 1000) */
  intervalMs?: number
  /** Most pages streaming at once from this dashboard; more are answered 503. (Default: 20) */
  maxClients?: number
}

/**
 * Per request: when the credentials the request was let in with expire.
 * @example
 * ```ts
 * const { expiresAt } = await verifyToken(request)
 * dashboard.handle(req, res, { streamUntil: expiresAt })
 * ```
 */
export interface DashboardRequestOptions {
  /**
   * End the page's stream at this time (ms since the epoch), for example when the access token
   * the request was authenticated with expires; the page then asks the user to reload.
   * (Default: the stream lasts until the page closes)
   */
  streamUntil?: number
}

/**
 * The part of a Fastify request the `fastify` handler needs (structural, so pgsteward does not depend on Fastify).
 * @example
 * ```ts
 * app.get('/dashboard/*', (request, reply) => dashboard.fastify(request, reply)) // a FastifyRequest fits
 * ```
 */
export interface FastifyLikeRequest {
  /** Node's request, which the dashboard reads. */
  raw: IncomingMessage
}

/**
 * The part of a Fastify reply the `fastify` handler needs: the raw response, and `hijack()` to take it over from Fastify.
 * @example
 * ```ts
 * app.get('/dashboard/*', (request, reply) => dashboard.fastify(request, reply)) // a FastifyReply fits
 * ```
 */
export interface FastifyLikeReply {
  /** Node's response, which the dashboard writes. */
  raw: ServerResponse
  /**
   * Tells Fastify the handler answers on `raw` itself; Fastify's `reply.hijack()` fits.
   * @example
   * ```ts
   * const reply: FastifyLikeReply = { raw: response, hijack: () => undefined } // outside Fastify
   * ```
   */
  hijack(): unknown
}

/**
 * A mounted dashboard; create it with `createDashboard`.
 * @example
 * ```ts
 * const dashboard = createDashboard(db, { basePath: '/dashboard' })
 * app.addHook('preClose', async () => dashboard.close())
 * ```
 */
export interface Dashboard {
  /**
   * Answer `req` if its path is under `basePath` (then true), else leave it alone (false). For
   * plain `http` servers; reads `req.originalUrl` where Express set it.
   * @example
   * ```ts
   * http.createServer((req, res) => {
   *   if (!isOperator(req)) return void res.writeHead(401).end()
   *   if (!dashboard.handle(req, res)) app(req, res)
   * })
   * ```
   */
  handle(req: IncomingMessage, res: ServerResponse, options?: DashboardRequestOptions): boolean
  /**
   * Express / Connect middleware: answers under `basePath`, passes anything else to `next`.
   * @example
   * ```ts
   * app.use('/dashboard', requireOperator, dashboard.middleware)
   * ```
   */
  readonly middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void
  /**
   * A Fastify route handler: takes the response over from Fastify (`reply.hijack()`) and
   * answers. Register it for `basePath` and `basePath/*` behind your authentication hook.
   * @example
   * ```ts
   * app.get('/dashboard', { onRequest: requireOperator }, (request, reply) => dashboard.fastify(request, reply))
   * app.get('/dashboard/*', { onRequest: requireOperator }, (request, reply) => dashboard.fastify(request, reply))
   * ```
   */
  fastify(request: FastifyLikeRequest, reply: FastifyLikeReply, options?: DashboardRequestOptions): void
  /**
   * Pages streaming now.
   * @example
   * ```ts
   * log.info({ pages: dashboard.clients }, 'dashboard pages open')
   * ```
   */
  readonly clients: number
  /**
   * End every stream (each page shows "closed") and answer 503 from now on: call it before
   * closing the HTTP server, which open streams would otherwise hold open.
   * @example
   * ```ts
   * process.on('SIGTERM', () => { dashboard.close(); server.close() })
   * ```
   */
  close(): void
}

const DEFAULT_BASE_PATH = '/dashboard'
/** Frames a page may fall behind (its socket not draining) before it is cut off. */
const MAX_SKIPPED_FRAMES = 30

function checkOptions(options: DashboardOptions): { basePath: string; intervalMs: number; maxClients: number } {
  const basePath = (options.basePath ?? DEFAULT_BASE_PATH).replace(/\/+$/, '')
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(basePath)) {
    throw new MisuseError(
      `createDashboard: basePath ${JSON.stringify(options.basePath)} must be a path such as '/dashboard' or '/ops/pool' (letters, digits, . _ ~ - between slashes).`,
    )
  }
  const intervalMs = options.intervalMs ?? 1_000
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 200)
    throw new MisuseError(`createDashboard: intervalMs must be an integer of at least 200 (milliseconds), got ${String(intervalMs)}.`)
  const maxClients = options.maxClients ?? 20
  if (!Number.isSafeInteger(maxClients) || maxClients < 1)
    throw new MisuseError(`createDashboard: maxClients must be a positive integer, got ${String(maxClients)}.`)
  return { basePath, intervalMs, maxClients }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers })
  res.end(text)
}

/**
 * Create a live dashboard of `db`'s pool. Every dashboard of one database shares one sampler
 * (per interval), which listens to the pool only while a page is open: a dashboard nobody
 * watches costs nothing.
 * @example
 * ```ts
 * import http from 'node:http'
 * import { createDashboard } from 'pgsteward/dashboard'
 *
 * const dashboard = createDashboard(db, { basePath: '/ops/pool' })
 * http.createServer((req, res) => {
 *   if (req.headers.authorization !== `Bearer ${process.env.OPS_TOKEN}`) return void res.writeHead(401).end()
 *   if (!dashboard.handle(req, res)) res.writeHead(404).end()
 * }).listen(9090, '127.0.0.1')
 * ```
 */
export function createDashboard(db: Database, options: DashboardOptions = {}): Dashboard {
  const internals: DatabaseInternals = internalsOf(db)
  const { basePath, intervalMs, maxClients } = checkOptions(options)
  const sampler = PoolSampler.of(internals, intervalMs)
  const page = dashboardPage(options.title ?? internals.options.applicationName, `${basePath}/events`)
  const streams = new Set<SampleSubscriber>()
  let closed = false

  const stream = (req: IncomingMessage, res: ServerResponse, requestOptions: DashboardRequestOptions | undefined): void => {
    if (closed) return plain(res, 503, 'The dashboard is closed.')
    if (internals.pool.closing) return plain(res, 503, 'The database is closing.')
    if (streams.size >= maxClients)
      return plain(res, 503, `Too many dashboard pages open (maxClients ${maxClients}): close one and retry.`, { 'retry-after': '10' })
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Proxies that buffer (nginx) would hold the samples back.
      'x-accel-buffering': 'no',
    })
    res.write('retry: 3000\n\n')
    let skipped = 0
    let expiry: NodeJS.Timeout | undefined
    let unsubscribe: () => void = () => undefined
    const finish = (): void => {
      if (!streams.delete(subscriber)) return
      clearTimeout(expiry)
      unsubscribe()
    }
    const subscriber: SampleSubscriber = {
      frame(text) {
        if (res.writableNeedDrain) {
          // A page that stopped reading: skip its frames, and cut it off if it never catches up.
          if (++skipped > MAX_SKIPPED_FRAMES) res.destroy()
          return
        }
        skipped = 0
        res.write(text)
      },
      end(reason) {
        if (!res.writableEnded) res.end(`event: ${reason}\ndata: {}\n\n`)
        finish()
      },
    }
    streams.add(subscriber)
    res.on('close', finish)
    req.on('close', finish)
    if (requestOptions?.streamUntil !== undefined) {
      expiry = setTimeout(
        () => {
          if (!res.writableEnded) res.end('event: expired\ndata: {}\n\n')
          finish()
        },
        Math.max(0, requestOptions.streamUntil - Date.now()),
      )
      expiry.unref()
    }
    unsubscribe = sampler.subscribe(subscriber)
  }

  const handle = (req: IncomingMessage, res: ServerResponse, requestOptions?: DashboardRequestOptions): boolean => {
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/'
    const path = url.split('?')[0] as string
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return false
    const rest = path.slice(basePath.length)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'The dashboard only answers GET.', { allow: 'GET, HEAD' })
      return true
    }
    if (rest === '' || rest === '/') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
      })
      res.end(req.method === 'HEAD' ? undefined : page)
      return true
    }
    if (rest === '/events') {
      stream(req, res, requestOptions)
      return true
    }
    plain(res, 404, `No dashboard resource ${rest}: the page is at ${basePath}, its stream at ${basePath}/events.`)
    return true
  }

  return {
    handle,
    middleware: (req, res, next) => {
      if (!handle(req, res)) next()
    },
    fastify(request, reply, requestOptions) {
      reply.hijack()
      if (!handle(request.raw, reply.raw, requestOptions)) plain(reply.raw, 404, `The dashboard answers under ${basePath} only.`)
    },
    get clients() {
      return streams.size
    },
    close() {
      closed = true
      for (const subscriber of [...streams]) subscriber.end('closed')
    },
  }
}
