/**
 * GET /dashboard: pgsteward's live pool dashboard (`pgsteward/dashboard`), for members of
 * TEACHER_GROUP or OPERATOR_GROUP only, never open: it shows SQL text, call sites and the load.
 * The page and its Server-Sent Events stream (/dashboard/events) are both checked: anonymous or
 * bad token 401, a signed-in user in neither group 403 (JSON, like every other error), before the
 * dashboard sees the request. A browser cannot send a header with an EventSource, so the token may
 * come as `?token=` (the page passes its own query string on to its stream; tokens in query strings
 * are redacted from the logs) or as `Authorization: Bearer`. A stream ends when its token expires;
 * the page then asks for a reload.
 *
 * A dashboard is most wanted when the pool is saturated, so access answers are cached for a
 * minute per user: the page's stream, and a reload, do not wait for a pooled connection.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createDashboard } from 'pgsteward/dashboard'
import { isMember } from '../auth/identity.ts'
import type { AppContext } from '../context.ts'
import { forbidden, unauthorized } from '../http-errors.ts'

const ACCESS_TTL_MS = 60_000
const ACCESS_CACHE_MAX = 1_000

export function dashboardRoutes(ctx: AppContext) {
  return async (app: FastifyInstance): Promise<void> => {
    const dashboard = createDashboard(ctx.db, { basePath: '/dashboard', title: 'classroom' })
    const groups = [...new Set([ctx.config.operatorGroup, ctx.config.teacherGroup])]
    /** user id -> until when they are known to be allowed. */
    const allowed = new Map<number, number>()
    const expiries = new WeakMap<FastifyRequest, number>()

    const mayWatch = async (userId: number): Promise<boolean> => {
      const now = Date.now()
      if ((allowed.get(userId) ?? 0) > now) return true
      for (const group of groups) {
        if (await isMember(ctx.db, userId, group)) {
          allowed.delete(userId)
          if (allowed.size >= ACCESS_CACHE_MAX) allowed.delete(allowed.keys().next().value as number)
          allowed.set(userId, now + ACCESS_TTL_MS)
          return true
        }
      }
      return false
    }

    const requireWatcher = async (request: FastifyRequest): Promise<void> => {
      const header = request.headers.authorization
      const query = request.query as { token?: unknown } | undefined
      const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : typeof query?.token === 'string' ? query.token : undefined
      if (token === undefined || token === '') {
        throw unauthorized(
          'The dashboard needs a signed-in operator or teacher: open /dashboard?token=<access token>, or send `Authorization: Bearer <access token>`.',
        )
      }
      const { user, expiresAt } = await ctx.auth.accessToken(token)
      if (!(await mayWatch(user.id))) {
        throw forbidden(`The dashboard is for members of ${groups.map((g) => JSON.stringify(g)).join(' or ')}: sign in with one of them among your groups.`)
      }
      expiries.set(request, expiresAt)
    }

    const serve = (request: FastifyRequest, reply: FastifyReply): void => {
      dashboard.fastify(request, reply, { streamUntil: expiries.get(request) })
    }
    // HEAD routes are added by Fastify for GET; the dashboard answers other methods 405 itself.
    app.get('/dashboard', { onRequest: requireWatcher }, serve)
    app.get('/dashboard/*', { onRequest: requireWatcher }, serve)
    // Open streams would hold the server's close.
    app.addHook('preClose', async () => dashboard.close())
  }
}
