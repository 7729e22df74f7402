/**
 * GET /health runs a real query through the pool (a health check that never touches the
 * database says "ok" while it is down). Busy is not down: 200 with `ok`, or with `degraded` while
 * requests wait for connections (even when the pool could not lend one to the check in time, as
 * long as the database answers on a connection of its own, or refuses it only for its connection
 * limit while the pool holds connections: `busy` says `pool` or `server`); 503 only when the
 * database does not answer. A load balancer then keeps a busy instance, and takes out one that cannot work.
 * GET /metrics: Prometheus text, pgsteward's pool collector plus HTTP request metrics.
 */
import type { FastifyInstance } from 'fastify'
import { registerMetrics } from 'pgsteward/metrics'
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { AppContext } from '../context.ts'
import type { DatabaseProbe } from './database-probe.ts'

const HEALTH_TIMEOUT_MS = 1_000

export function opsRoutes(ctx: AppContext, probe: DatabaseProbe) {
  return async (app: FastifyInstance): Promise<void> => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    registerMetrics(ctx.db, registry, { poolName: 'classroom' })
    const requests = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    })
    app.addHook('onResponse', async (request, reply) => {
      requests.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000)
    })

    app.get('/health', async (_request, reply) => {
      const report = await ctx.db.health({ timeoutMs: HEALTH_TIMEOUT_MS })
      if (report.status !== 'down') return reply.status(200).send(report)
      const answer = await probe.answers(2 * HEALTH_TIMEOUT_MS)
      if (answer === 'answers') {
        const reason = `the pool is busy (${report.reason ?? 'no connection free'}); the database answers`
        return reply.status(200).send({ ...report, status: 'degraded', busy: 'pool', reason })
      }
      if (answer === 'full' && report.pool.total > 0) {
        // The server is at its connection limit and we hold connections: busy everywhere, not down.
        return reply.status(200).send({
          ...report,
          status: 'degraded',
          busy: 'server',
          reason: `the pool is busy (${report.reason ?? 'no connection free'}); the server answers but is at its connection limit`,
        })
      }
      return reply.status(503).header('retry-after', '5').send(report)
    })

    app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  }
}
