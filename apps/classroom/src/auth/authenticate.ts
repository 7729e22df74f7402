/**
 * Request authentication: users with `Authorization: Bearer <access JWT>`, internal callers (a
 * grader posting scores) with `Authorization: Service <token>` derived from SERVICE_SECRET.
 * A token is accepted only if it is ours, unexpired, and names a user that exists: a correctly
 * signed token with a missing, malformed or unknown subject is a 401 like any other bad token.
 * Routes authenticate in onRequest, before the body is read or validated.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { sql, type Database } from 'pgsteward'
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

/** How long a user found in the database is trusted to exist without asking again. */
const KNOWN_USER_TTL_MS = 60_000
const KNOWN_USERS_MAX = 10_000
const USER_ID = /^[1-9][0-9]{0,15}$/

export class Authenticator {
  readonly #app: FastifyInstance
  readonly #db: Database
  readonly #serviceSecret: string
  /** User ids seen in the database lately: most requests cost no query to check their user. */
  readonly #known = new Map<number, number>()

  constructor(app: FastifyInstance, db: Database, serviceSecret: string) {
    this.#app = app
    this.#db = db
    this.#serviceSecret = serviceSecret
  }

  async user(request: FastifyRequest): Promise<AuthUser> {
    const header = request.headers.authorization
    if (!header?.startsWith('Bearer '))
      throw unauthorized('Send `Authorization: Bearer <access token>` (from POST /auth/token, or POST /auth/login in development).')
    return (await this.accessToken(header.slice('Bearer '.length))).user
  }

  /**
   * The token's user and when the token expires (ms since the epoch). A connection that outlives
   * one request (a WebSocket) must end when its token does, or a revoked user stays connected.
   */
  async accessToken(token: string): Promise<{ user: AuthUser; expiresAt: number }> {
    let claims: Partial<AccessClaims> & { exp?: unknown }
    try {
      claims = this.#app.jwt.verify<Partial<AccessClaims> & { exp?: unknown }>(token)
    } catch {
      throw unauthorized('The access token is invalid or expired: refresh it with POST /auth/refresh.')
    }
    // Tokens are always issued with an expiry; one without would be a bug, not a licence to stay forever.
    if (typeof claims.exp !== 'number') throw unauthorized('The access token has no expiry: sign in again.')
    const id = typeof claims.sub === 'string' && USER_ID.test(claims.sub) ? Number(claims.sub) : undefined
    if (id === undefined || !Number.isSafeInteger(id) || typeof claims.name !== 'string') {
      throw unauthorized('The access token does not name a user: sign in again.')
    }
    if (!(await this.#exists(id))) throw unauthorized('The access token names a user that does not exist: sign in again.')
    return { user: { id, username: claims.name }, expiresAt: claims.exp * 1000 }
  }

  service(request: FastifyRequest): void {
    const header = request.headers.authorization ?? ''
    const presented = header.startsWith('Service ') ? header.slice('Service '.length) : ''
    const expected = serviceToken(this.#serviceSecret)
    const ok = presented.length === expected.length && timingSafeEqual(Buffer.from(presented), Buffer.from(expected))
    if (!ok) {
      request.log.warn({ reason: presented === '' ? 'missing service token' : 'wrong service token' }, 'service authentication failed')
      throw unauthorized('Service authentication required: send `Authorization: Service <token>` (`npm run service-token -w classroom` prints it).')
    }
  }

  async #exists(id: number): Promise<boolean> {
    const now = Date.now()
    const until = this.#known.get(id)
    if (until !== undefined && until > now) return true
    const row = await this.#db.maybeOne(sql`SELECT 1 FROM users WHERE id = ${id}`)
    if (row === null) return false
    this.#known.delete(id)
    if (this.#known.size >= KNOWN_USERS_MAX) this.#known.delete(this.#known.keys().next().value as number)
    this.#known.set(id, now + KNOWN_USER_TTL_MS)
    return true
  }
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims
    /** Set by the routes that require a signed-in user. */
    user: AuthUser
  }
}
