/**
 * Rows built from the server's RowDescription and DataRow messages with node-postgres's type
 * parsers (`pg.types`, or the statement's own `types`), so values come back exactly as `pg`
 * returns them, and a parser registered with `pg.types.setTypeParser` applies here too.
 */
import pg from 'pg'

/** A column as the server describes it (PostgreSQL's RowDescription), the same shape node-postgres gives. */
export interface FieldDescription {
  /** The column's name (or alias). */
  name: string
  /** The OID of the table the column comes from; 0 for a computed column. */
  tableID: number
  /** The column's number within that table; 0 for a computed column. */
  columnID: number
  /** The column type's OID (`pg_type.oid`). */
  dataTypeID: number
  /** The type's size in bytes (`pg_type.typlen`); negative for variable-length types. */
  dataTypeSize: number
  /** The type modifier (`pg_attribute.atttypmod`), such as a varchar's length; -1 for none. */
  dataTypeModifier: number
  /** 'text' or 'binary': how the values travelled. */
  format: string
}

/** Per-statement type parsers, as node-postgres's `types` query option takes them. */
export interface TypeParsers {
  getTypeParser(oid: number, format?: string): (value: string) => unknown
}

/** One statement's outcome: the same shape node-postgres's Result has. */
export interface StatementResult {
  command: string
  rowCount: number | null
  oid: number | null
  rows: unknown[]
  fields: FieldDescription[]
}

const identity = (value: string): string => value

export class ResultBuilder implements StatementResult {
  command = ''
  rowCount: number | null = null
  oid: number | null = null
  rows: unknown[] = []
  fields: FieldDescription[] = []
  #names: string[] = []
  #parsers: ((value: string) => unknown)[] = []
  readonly #asArray: boolean
  readonly #types: TypeParsers

  constructor(asArray: boolean, types: TypeParsers | undefined) {
    this.#asArray = asArray
    this.#types = types ?? pg.types
  }

  describe(fields: FieldDescription[]): void {
    this.fields = fields
    this.#names = fields.map((f) => f.name)
    this.#parsers = fields.map(
      (f) => (f.format === 'binary' ? this.#types.getTypeParser(f.dataTypeID, 'binary') : this.#types.getTypeParser(f.dataTypeID, 'text')) ?? identity,
    )
  }

  addRow(values: (string | null)[]): void {
    const parsers = this.#parsers
    if (this.#asArray) {
      const row = new Array<unknown>(values.length)
      for (let i = 0; i < values.length; i++) {
        const v = values[i]
        row[i] = v === null || v === undefined ? null : (parsers[i] as (value: string) => unknown)(v)
      }
      this.rows.push(row)
      return
    }
    const names = this.#names
    const row: Record<string, unknown> = {}
    for (let i = 0; i < values.length; i++) {
      const v = values[i]
      row[names[i] as string] = v === null || v === undefined ? null : (parsers[i] as (value: string) => unknown)(v)
    }
    this.rows.push(row)
  }

  /** CommandComplete's tag: `INSERT 0 5`, `UPDATE 3`, `SELECT 2`, `CREATE TABLE` (command `CREATE`, as node-postgres reports it). */
  complete(tag: string): void {
    const parsed = parseCommandTag(tag)
    if (parsed === undefined) return
    this.command = parsed.command
    this.oid = parsed.oid
    this.rowCount = parsed.rowCount
  }
}

/** A CommandComplete tag read as node-postgres reads it: the first word, and the row count (after the oid for INSERT). */
export function parseCommandTag(tag: string): { command: string; rowCount: number | null; oid: number | null } | undefined {
  const match = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/.exec(tag)
  if (match === null) return undefined
  const command = match[1] ?? ''
  if (match[3] !== undefined) return { command, oid: Number(match[2]), rowCount: Number(match[3]) }
  if (match[2] !== undefined) return { command, oid: null, rowCount: Number(match[2]) }
  return { command, oid: null, rowCount: null }
}
