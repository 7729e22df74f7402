/**
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) for POSTs that create. The key is
 * claimed inside the request's own transaction, before its work, and the response is stored in
 * the same transaction: a request whose write committed has its response recorded with it, one
 * that failed left nothing. A repeat with the same key gets the stored response (the
 * `Idempotent-Replayed: true` header says so); a repeat racing the original waits on the key's
 * row until the original commits, then gets its response. The same key on a different request
 * is a 422. Keys are per user (per caller for services) and kept 24 hours.
 */
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sql, type Transaction } from 'pgsteward'
import { HttpError, badRequest } from '../http-errors.ts'

export const IDEMPOTENCY_KEY_HOURS = 24
const KEY = /^[\x21-\x7e]{1,255}$/

export interface StoredResponse {
  status: number
  body: unknown
  headers: Record<string, string>
}

/** The request's Idempotency-Key, checked (400 when malformed); undefined when absent. */
export function idempotencyKey(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key']
  if (header === undefined) return undefined
  const value = Array.isArray(header) ? header.join(',') : header
  // Structured-field strings arrive quoted; a bare token is accepted too.
  const key = /^"(.*)"$/.exec(value)?.[1] ?? value
  if (!KEY.test(key)) throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters, e.g. a UUID.')
  return key
}

/** What makes two requests "the same": method, route, parameters and body. */
export function fingerprintOf(request: FastifyRequest, extra?: unknown): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        request.method,
        request.routeOptions.url,
        request.params,
        request.query,
        request.body instanceof Object && 'pipe' in request.body ? null : request.body,
        extra,
      ]),
    )
    .digest('hex')
}

/**
 * Run `work` in `tx` unless a request with this key already did: then its stored response.
 * Without a key, just `work`.
 */
export async function once(
  tx: Transaction,
  claim: { principal: string; key: string | undefined; fingerprint: string },
  work: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  const { principal, key, fingerprint } = claim
  if (key === undefined) return { ...(await work()), replayed: false }
  const claimed = await tx.maybeOne(sql`INSERT INTO idempotency_keys (principal, key, fingerprint, status)
    VALUES (${principal}, ${key}, ${fingerprint}, 0) ON CONFLICT (principal, key) DO NOTHING RETURNING 1`)
  if (claimed === null) {
    const stored = await tx.one<{ fingerprint: string; status: number; body: unknown; headers: Record<string, string> }>(
      sql`SELECT fingerprint, status, body, headers FROM idempotency_keys WHERE principal = ${principal} AND key = ${key}`,
    )
    if (stored.fingerprint !== fingerprint) {
      throw new HttpError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different request: use a new key for a new request.')
    }
    return { status: stored.status, body: stored.body, headers: stored.headers, replayed: true }
  }
  const response = await work()
  await tx.query(sql`UPDATE idempotency_keys SET status = ${response.status}, body = ${JSON.stringify(response.body ?? null)}::jsonb,
    headers = ${JSON.stringify(response.headers)}::jsonb WHERE principal = ${principal} AND key = ${key}`)
  return { ...response, replayed: false }
}

export function sendStored(reply: FastifyReply, response: StoredResponse & { replayed: boolean }): FastifyReply {
  for (const [name, value] of Object.entries(response.headers)) void reply.header(name, value)
  if (response.replayed) void reply.header('idempotent-replayed', 'true')
  return reply.status(response.status).send(response.body ?? undefined)
}
