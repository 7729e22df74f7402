/**
 * Write tokens: a position in the primary's WAL (an LSN, `16/B374D848`) that covers a commit. A
 * standby whose `pg_last_wal_replay_lsn()` has reached it has replayed that commit, so a read
 * there sees it.
 *
 * The token is read on the primary after the commit returned, from
 * `pg_current_wal_insert_lsn()`: the commit record was inserted before COMMIT answered, so the
 * insert position is at or past the end of that record whatever `synchronous_commit` says (the
 * write and flush positions are not, with `synchronous_commit = off`). It is an upper bound: a
 * standby may have to replay a little more than the commit, never less. One correction keeps it
 * reachable on a quiet server: when the insert position sits just past a page header (the last
 * record ended exactly on a page boundary), a standby reports the boundary itself as its replay
 * position, so the header's bytes are taken off, as PostgreSQL's own `XLogBytePosToEndRecPtr` does.
 */
import { WriteTokenError } from '../errors/error-classes.js'

const LSN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i

/** The primary's insert position as a standby's replay position would spell it (see above). */
export const WRITE_TOKEN_SQL = `SELECT (l - CASE
    WHEN (l - '0/0'::pg_lsn) % pg_size_bytes(current_setting('wal_segment_size')) = 40 THEN 40
    WHEN (l - '0/0'::pg_lsn) % current_setting('wal_block_size')::int = 24 THEN 24
    ELSE 0 END)::text AS lsn
  FROM (SELECT pg_current_wal_insert_lsn() AS l) AS now`

/** The 64-bit position of an LSN text, or a WriteTokenError that says what a token looks like. */
export function parseToken(token: unknown, where: string): bigint {
  const match = typeof token === 'string' ? LSN.exec(token) : null
  if (match === null) throw new WriteTokenError(where, token)
  return (BigInt(`0x${match[1] as string}`) << 32n) | BigInt(`0x${match[2] as string}`)
}

/** The later of two tokens (either may be missing). */
export function laterToken(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return parseToken(a, 'a write token') >= parseToken(b, 'a write token') ? a : b
}

/**
 * What one async context (a request, a job) has written through the primary: whether a write
 * finished since its token was last read, and that token. Shared by reference down the context.
 */
export interface WriteMark {
  /** A write finished since `token` was read. */
  dirty: boolean
  /** Covers every write of this context that finished before it was read. */
  token: string | undefined
  /** The primary is being asked for the token; reads wait for it rather than read stale. */
  fetching: Promise<void> | undefined
}

/**
 * The token a read in this context must wait for: read from the primary when a write finished
 * since the last one. Concurrent reads share one look-up. A write that finishes during the
 * look-up marks the context dirty again, so the next read looks again.
 */
export async function contextToken(mark: WriteMark | undefined, fetch: () => Promise<string>): Promise<string | undefined> {
  if (mark === undefined) return undefined
  if (mark.dirty) {
    mark.dirty = false
    const lookup = fetch().then(
      (lsn) => {
        mark.token = laterToken(mark.token, lsn)
      },
      (err: unknown) => {
        mark.dirty = true
        throw err
      },
    )
    mark.fetching = lookup
    void lookup.then(
      () => (mark.fetching === lookup ? (mark.fetching = undefined) : undefined),
      () => (mark.fetching === lookup ? (mark.fetching = undefined) : undefined),
    )
  }
  if (mark.fetching !== undefined) await mark.fetching
  return mark.token
}
