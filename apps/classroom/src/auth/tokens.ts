/**
 * Access tokens (short-lived JWTs) and refresh tokens (random, stored hashed, rotated on use).
 * Rotation locks the token's row: of concurrent refreshes of one token exactly one wins.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { sql, type Database } from 'pgsteward'
import { unauthorized } from '../http-errors.ts'

export const ACCESS_TOKEN_SECONDS = 15 * 60
const REFRESH_TOKEN_DAYS = 30

export interface TokenPair {
  accessToken: string
  refreshToken: string
  expiresIn: number
}

export interface AccessClaims {
  sub: string
  name: string
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex')

async function newRefreshToken(db: Database, userId: number): Promise<string> {
  const token = randomBytes(32).toString('base64url')
  await db.query(sql`INSERT INTO refresh_tokens (user_id, token_hash, expires_at)
    VALUES (${userId}, ${hash(token)}, now() + make_interval(days => ${REFRESH_TOKEN_DAYS}))`)
  return token
}

export async function issueTokens(app: FastifyInstance, db: Database, userId: number, username: string): Promise<TokenPair> {
  const claims: AccessClaims = { sub: String(userId), name: username }
  return {
    accessToken: app.jwt.sign(claims, { expiresIn: ACCESS_TOKEN_SECONDS }),
    refreshToken: await newRefreshToken(db, userId),
    expiresIn: ACCESS_TOKEN_SECONDS,
  }
}

/** Exchange a refresh token for a new pair; the old one is revoked in the same transaction. */
export async function rotateRefreshToken(app: FastifyInstance, db: Database, token: string): Promise<TokenPair> {
  return db.transaction(async (tx) => {
    const row = await tx.maybeOne<{ id: string; user_id: string; username: string; usable: boolean }>(sql`
      SELECT t.id, t.user_id, u.username, (t.revoked_at IS NULL AND t.expires_at > now()) AS usable
      FROM refresh_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = ${hash(token)}
      FOR UPDATE OF t`)
    if (row === null || !row.usable) throw unauthorized('The refresh token is invalid, expired or already used.')
    await tx.query(sql`UPDATE refresh_tokens SET revoked_at = now() WHERE id = ${row.id}`)
    // db.query joins this transaction: the new token exists only if the old one was revoked.
    return issueTokens(app, db, Number(row.user_id), row.username)
  })
}
