/**
 * A transaction's BEGIN sent in the same round trip as its first statement.
 *
 * A short transaction is mostly round trips: BEGIN, a statement or two, COMMIT. BEGIN needs no
 * answer before the next statement can go, so it is written with the first parameterised
 * statement as one extended-protocol batch under a single Sync: Parse/Bind/Execute of BEGIN,
 * then the statement's Parse/Bind/Describe/Execute. The server runs them in order; BEGIN turns
 * the batch's implicit transaction into the explicit one, which stays open after the Sync (the
 * ReadyForQuery reports 'T', or 'E' if the statement failed). One round trip fewer per
 * transaction, and the same semantics: the snapshot is taken by the first statement either way.
 *
 * Only statements node-postgres would itself send with the extended protocol qualify (values
 * given, no name of the caller's, no row-count paging): a statement without values may hold
 * several commands, which the extended protocol refuses, so BEGIN goes ahead of it on its own.
 */
import pg from 'pg'
import { prepareValue } from 'pg/lib/utils.js'

/** The protocol calls this module makes; node-postgres's typings do not declare them. */
interface ProtocolConnection {
  parse(query: { text: string }): void
  bind(config: object): void
  execute(config: object): void
  stream: { cork?: () => void; uncork?: () => void }
}

export type QueryCallback = (err: Error | undefined, result: pg.QueryResult<Record<string, unknown>>) => void

/** node-postgres's Query as this module extends it: the parts its typings leave out. */
interface DriverQuery {
  values?: unknown[]
  /** A named statement's name: node-postgres records it as prepared at any ParseComplete while it is set. */
  name?: string
  submit(connection: ProtocolConnection): Error | null | undefined
  handleCommandComplete(msg: unknown, connection: ProtocolConnection): void
}
const DriverQuery = pg.Query as unknown as new (config: pg.QueryConfig, values: undefined, callback: QueryCallback) => DriverQuery

/** Whether `config` can carry its transaction's BEGIN in the same round trip (a name given by the statement cache is added later). */
export function canCarryBegin(config: pg.QueryConfig): boolean {
  const paged = (config as { rows?: unknown }).rows !== undefined
  return Array.isArray(config.values) && config.values.length > 0 && config.name === undefined && !paged && typeof config.text === 'string'
}

export class BeginWithStatement extends DriverQuery {
  readonly #begin: string
  /** BEGIN's CommandComplete arrives first and is not part of the statement's result. */
  #beginCompleted = false
  /** The statement's name, hidden from node-postgres until BEGIN completed (see submit). */
  #statementName: string | undefined

  constructor(begin: string, config: pg.QueryConfig, callback: QueryCallback) {
    super(config, undefined, callback)
    this.#begin = begin
  }

  override submit(connection: ProtocolConnection): Error | null | undefined {
    // Serialise the values before anything is written: a value that cannot be sent must fail
    // the statement cleanly, not leave BEGIN written without the Sync that ends the batch.
    try {
      this.values = (this.values ?? []).map(prepareValue)
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err))
    }
    connection.stream.cork?.()
    try {
      connection.parse({ text: this.#begin })
      connection.bind({})
      connection.execute({})
      // Query.submit's own refusals (no text, a name reused for another text, values not an
      // array) cannot happen here: canCarryBegin and the statement cache's unique names rule them out.
      return super.submit(connection)
    } finally {
      connection.stream.uncork?.()
      // node-postgres marks `name` as prepared at the next ParseComplete, which is BEGIN's: were
      // the statement's own Parse then to fail, the connection would believe it prepared. The
      // name is restored once BEGIN completed, so only the statement's ParseComplete counts.
      this.#statementName = this.name
      this.name = undefined
    }
  }

  override handleCommandComplete(msg: unknown, connection: ProtocolConnection): void {
    if (!this.#beginCompleted) {
      this.#beginCompleted = true
      this.name = this.#statementName
      return
    }
    super.handleCommandComplete(msg, connection)
  }
}
