/** POST /auth/login and POST /auth/refresh. */
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.ts'
import { upsertIdentity } from './identity.ts'
import { issueTokens, rotateRefreshToken } from './tokens.ts'

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' })

const LoginBody = Type.Object({ username: Name, groups: Type.Array(Name, { maxItems: 50, default: [] }) }, { additionalProperties: false })
const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 20, maxLength: 200 }) }, { additionalProperties: false })

export function authRoutes(ctx: AppContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/auth/login', { schema: { body: LoginBody } }, async (request) => {
      const { username, groups } = request.body as { username: string; groups: string[] }
      const identity = await upsertIdentity(ctx.db, username, groups)
      const tokens = await issueTokens(app, ctx.db, identity.userId, identity.username)
      return { user: { id: identity.userId, username: identity.username, groups: identity.groups }, ...tokens }
    })

    app.post('/auth/refresh', { schema: { body: RefreshBody } }, async (request) => {
      const { refreshToken } = request.body as { refreshToken: string }
      return rotateRefreshToken(app, ctx.db, refreshToken)
    })
  }
}
