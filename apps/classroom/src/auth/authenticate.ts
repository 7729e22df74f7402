/**
 * Request authentication: users with `Authorization: Bearer <access JWT>`, internal callers (a
 * grader posting scores) with `Authorization: Service <token>` derived from SERVICE_SECRET.
 * Failures are 401 and are logged without the presented secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { unauthorized } from '../http-errors.ts'
import type { AccessClaims } from './tokens.ts'

export interface AuthUser {
  id: number
  username: string
}

/** The token internal callers present: an HMAC of a fixed label, so the secret itself never travels. */
export function serviceToken(serviceSecret: string): string {
  return createHmac('sha256', serviceSecret).update('classroom-service-v1').digest('hex')
}

export async function authenticateUser(app: FastifyInstance, request: FastifyRequest): Promise<AuthUser> {
  const header = request.headers.authorization
  if (!header?.startsWith('Bearer ')) throw unauthorized('Send `Authorization: Bearer <access token>` (from POST /auth/login).')
  return verifyAccessToken(app, header.slice('Bearer '.length))
}

export async function verifyAccessToken(app: FastifyInstance, token: string): Promise<AuthUser> {
  return (await verifyAccessTokenUntil(app, token)).user
}

/**
 * The token's user and when the token expires (ms since the epoch). A connection that outlives
 * one request (a WebSocket) must end when its token does, or a revoked user stays connected.
 */
export async function verifyAccessTokenUntil(app: FastifyInstance, token: string): Promise<{ user: AuthUser; expiresAt: number }> {
  let claims: AccessClaims & { exp?: number }
  try {
    claims = app.jwt.verify<AccessClaims & { exp?: number }>(token)
  } catch {
    throw unauthorized('The access token is invalid or expired: refresh it with POST /auth/refresh.')
  }
  // Tokens are always issued with an expiry; one without would be a bug, not a licence to stay forever.
  if (typeof claims.exp !== 'number') throw unauthorized('The access token has no expiry: log in again.')
  return { user: { id: Number(claims.sub), username: claims.name }, expiresAt: claims.exp * 1000 }
}

export function authenticateService(request: FastifyRequest, serviceSecret: string): void {
  const header = request.headers.authorization ?? ''
  const presented = header.startsWith('Service ') ? header.slice('Service '.length) : ''
  const expected = serviceToken(serviceSecret)
  const ok = presented.length === expected.length && timingSafeEqual(Buffer.from(presented), Buffer.from(expected))
  if (!ok) {
    request.log.warn({ reason: presented === '' ? 'missing service token' : 'wrong service token' }, 'service authentication failed')
    throw unauthorized('Service authentication required: send `Authorization: Service <token>`.')
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims
    /** Set by the routes that require a logged-in user. */
    user: AuthUser
  }
}
