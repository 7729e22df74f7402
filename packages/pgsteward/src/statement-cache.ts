/**
 * The statement cache: a parameterised statement is prepared once per connection (a named
 * statement) and afterwards only bound and executed, so the server parses and plans its text
 * once instead of on every call. For short statements that is a large part of the server's work.
 *
 * One name per distinct text, shared by every connection of a database; names are never reused
 * for another text, so a connection's record of what it prepared can never be wrong about which
 * text a name means. Each connection prepares at most `perConnection` statements (the server
 * keeps each one in that backend's memory); beyond that, statements run unnamed as before.
 *
 * A prepared statement outlives changes to its tables. When one changes the shape of the result
 * (ALTER TABLE ... ADD COLUMN under `SELECT *`), PostgreSQL refuses the cached plan; the text
 * then gets a new name, prepared afresh on next use. A statement the server no longer has
 * (DEALLOCATE ALL by the application) is forgotten on that connection and prepared again.
 * Either way nothing ran: outside a transaction the statement is sent again at once, and a
 * transaction that hit it is re-run like one that lost a serialization conflict.
 */

/** Distinct texts remembered before the map starts over (names are not reused, so that only costs re-preparing). */
const MAX_TEXTS = 10_000

export class StatementNames {
  readonly perConnection: number
  readonly #names = new Map<string, string>()
  #issued = 0

  constructor(perConnection: number) {
    this.perConnection = perConnection
  }

  nameFor(text: string): string {
    let name = this.#names.get(text)
    if (name === undefined) {
      if (this.#names.size >= MAX_TEXTS) this.#names.clear()
      name = `pgsteward_${++this.#issued}`
      this.#names.set(text, name)
    }
    return name
  }

  /** The server refused the cached plan of `text`: its next use prepares under a new name everywhere. */
  renew(text: string): void {
    this.#names.delete(text)
  }
}

/** Marks a driver error caused by the cache itself (see `isStatementCacheFailure`). */
const CACHE_FAILURE = Symbol('pgsteward.statementCacheFailure')

/** Record on `err` that the cache caused it; the cache's records were corrected already. */
export function markStatementCacheFailure(err: object): void {
  Object.defineProperty(err, CACHE_FAILURE, { value: true })
}

/**
 * True for an error a cached statement caused and that running the work again will not repeat:
 * outside a transaction the statement is re-sent at once; a transaction is re-run whole.
 */
export function isStatementCacheFailure(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { [CACHE_FAILURE]?: boolean })[CACHE_FAILURE] === true) return true
  }
  return false
}

/** What went wrong with a cached statement, if that is why `err` happened. */
export function cachedStatementFailure(err: unknown): 'stale-plan' | 'missing' | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { code, routine, message } = err as { code?: unknown; routine?: unknown; message?: unknown }
  // 0A000 "cached plan must not change result type", raised while re-checking the plan at Bind.
  if (code === '0A000' && (routine === 'RevalidateCachedQuery' || String(message).includes('cached plan'))) return 'stale-plan'
  // 26000 "prepared statement ... does not exist": deallocated behind the cache's back.
  if (code === '26000') return 'missing'
  return undefined
}
