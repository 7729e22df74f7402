/**
 * Signing in, and staying signed in:
 * - POST /auth/token exchanges an ID token of the identity provider (OIDC_*) for our tokens:
 *   the production sign-in;
 * - POST /auth/login is the development identity provider (the caller names itself and its
 *   groups), refused unless NODE_ENV is development or test;
 * - POST /auth/refresh rotates a refresh token.
 */
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.ts'
import { HttpError } from '../http-errors.ts'
import type { IdTokenVerifier } from './id-token.ts'
import { upsertIdentity } from './identity.ts'
import { issueTokens, rotateRefreshToken } from './tokens.ts'

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' })

const LoginBody = Type.Object({ username: Name, groups: Type.Array(Name, { maxItems: 50, default: [] }) }, { additionalProperties: false })
const TokenBody = Type.Object({ idToken: Type.String({ minLength: 1, maxLength: 16_384 }) }, { additionalProperties: false })
const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 20, maxLength: 200 }) }, { additionalProperties: false })

export function authRoutes(ctx: AppContext, idTokens: IdTokenVerifier | undefined) {
  const developmentLogin = ctx.config.env === 'development' || ctx.config.env === 'test'
  return async (app: FastifyInstance): Promise<void> => {
    app.post(
      '/auth/login',
      {
        schema: { body: LoginBody },
        // Refused before the body is even read: in production nobody may name themselves.
        onRequest: async () => {
          if (!developmentLogin) {
            throw new HttpError(
              403,
              'DEVELOPMENT_LOGIN_DISABLED',
              'POST /auth/login is the development sign-in and is off in production: exchange an ID token of the identity provider at POST /auth/token.',
            )
          }
        },
      },
      async (request) => {
        const { username, groups } = request.body as { username: string; groups: string[] }
        const identity = await upsertIdentity(ctx.db, username, groups)
        const tokens = await issueTokens(app, ctx.db, identity.userId, identity.username)
        return { user: { id: identity.userId, username: identity.username, groups: identity.groups }, ...tokens }
      },
    )

    app.post(
      '/auth/token',
      {
        schema: { body: TokenBody },
        onRequest: async () => {
          if (idTokens === undefined) {
            throw new HttpError(
              403,
              'SIGN_IN_NOT_CONFIGURED',
              'No identity provider is configured: set OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL (or OIDC_JWKS_FILE).',
            )
          }
        },
      },
      async (request) => {
        const { idToken } = request.body as { idToken: string }
        const verified = await (idTokens as IdTokenVerifier).verify(idToken)
        const identity = await upsertIdentity(ctx.db, verified.username, verified.groups)
        const tokens = await issueTokens(app, ctx.db, identity.userId, identity.username)
        return { user: { id: identity.userId, username: identity.username, groups: identity.groups }, ...tokens }
      },
    )

    app.post('/auth/refresh', { schema: { body: RefreshBody } }, async (request) => {
      const { refreshToken } = request.body as { refreshToken: string }
      return rotateRefreshToken(app, ctx.db, refreshToken)
    })
  }
}
