/**
 * GET /health runs a real query through the pool (a health check that never touches the
 * database says "ok" while it is down): 200 when ok, 503 when degraded or down.
 * GET /metrics: Prometheus text, pgsteward's pool collector plus HTTP request metrics.
 */
import type { FastifyInstance } from 'fastify'
import { registerMetrics } from 'pgsteward/metrics'
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { AppContext } from '../context.ts'

export function opsRoutes(ctx: AppContext) {
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
      const report = await ctx.db.health({ timeoutMs: 1_000 })
      return reply.status(report.status === 'ok' ? 200 : 503).send(report)
    })

    app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  }
}
