/**
 * If-Match as RFC 9110 defines it (section 13.1.1): `*`, or a list of entity-tags, each a quoted
 * opaque string, optionally marked weak (`W/"3"`). If-Match uses the strong comparison, so a weak
 * tag never matches. Our tags are a row's version (`"3"`).
 */
import { HttpError, badRequest } from '../http-errors.ts'

export type IfMatch = { kind: 'any' } | { kind: 'versions'; versions: number[] }

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
const ENTITY_TAG = /^\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/

/** The header parsed; undefined when absent. Malformed: 400. Only weak or foreign tags: 412. */
export function parseIfMatch(header: string | undefined): IfMatch | undefined {
  if (header === undefined) return undefined
  if (header.trim() === '*') return { kind: 'any' }
  const versions: number[] = []
  let rest = header
  let tags = 0
  while (rest.trim() !== '') {
    const match = ENTITY_TAG.exec(rest)
    if (match === null) {
      throw badRequest('If-Match must be `*` or entity-tags as the ETag header gave them, quotes included: If-Match: "3".')
    }
    tags++
    const [whole, weak, opaque] = match
    if (weak === undefined && opaque !== undefined && /^[1-9][0-9]{0,8}$/.test(opaque)) versions.push(Number(opaque))
    rest = rest.slice(whole.length)
  }
  if (tags === 0) throw badRequest('If-Match is empty: send the ETag you read, e.g. If-Match: "3".')
  if (versions.length === 0) {
    throw new HttpError(
      412,
      'PRECONDITION_FAILED',
      'If-Match names no current version: weak tags (W/"...") never match for a change; send the strong ETag you read.',
    )
  }
  return { kind: 'versions', versions }
}

/**
 * The version an update is conditioned on: the current one when `*` or when the list names it,
 * else the newest version named (the update then fails as stale, 409, with the current version).
 */
export function versionToExpect(condition: IfMatch, current: number): number {
  if (condition.kind === 'any' || condition.versions.includes(current)) return current
  return Math.max(...condition.versions)
}
