/**
 * What one connection has prepared for the statement cache: each name is 'sent' once its Parse
 * is written (later statements in the same pipeline may bind it without parsing again) and
 * 'ready' once the server confirmed it. A Parse that failed frees the name.
 */
import type { StatementNames } from './statement-names.js'

export interface CachedStatement {
  name: string
  /** The Parse must be written with this statement. */
  parse: boolean
}

export class PreparedStatements {
  readonly #names: StatementNames | undefined
  readonly #state = new Map<string, 'sent' | 'ready'>()

  constructor(names: StatementNames | undefined) {
    this.#names = names
  }

  /** The cache name for `text`, and whether it must be parsed; undefined to send it unnamed (cache off or full). */
  lookup(text: string): CachedStatement | undefined {
    const names = this.#names
    if (names === undefined) return undefined
    const name = names.nameFor(text)
    if (this.#state.has(name)) return { name, parse: false }
    if (this.#state.size >= names.perConnection) return undefined
    this.#state.set(name, 'sent')
    return { name, parse: true }
  }

  confirm(name: string): void {
    if (this.#state.has(name)) this.#state.set(name, 'ready')
  }

  /** The server does not have `name` (its Parse failed, or it was deallocated): parse it again next time. */
  forget(name: string): void {
    this.#state.delete(name)
  }

  /** The plan the server holds for `text` no longer fits its tables: use a new name everywhere. */
  renew(text: string, name: string): void {
    this.#names?.renew(text)
    // The server keeps the old statement under its old name until the connection closes; it stays counted.
    this.#state.set(name, 'ready')
  }

  /** After DISCARD ALL the server has none. */
  clear(): void {
    this.#state.clear()
  }
}
