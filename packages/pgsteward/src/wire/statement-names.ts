/**
 * The statement cache's names: a parameterised statement is prepared once per connection (a
 * named statement) and afterwards only bound and executed, so the server parses and plans its
 * text once instead of on every call. For short statements that is a large part of the work.
 *
 * One name per distinct text, shared by every connection of a database; names are never reused
 * for another text, so a connection's record of what it prepared can never be wrong about which
 * text a name means. When PostgreSQL refuses a cached plan because a table changed shape under
 * it, the text gets a new name, prepared afresh on next use.
 */

/** Distinct texts remembered before the map starts over (names are not reused, so that only costs re-preparing). */
const MAX_TEXTS = 10_000

export class StatementNames {
  /** Statements each connection may prepare (the server keeps each one in that backend's memory). */
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
