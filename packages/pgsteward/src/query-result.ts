/**
 * The result shape every query method returns, and the row-count contracts of `one`,
 * `maybeOne` and `many`, shared by the database, sessions and transactions.
 */
import { NoRowsError, TooManyRowsError } from './errors/error-classes.js'
import type { DriverResult } from './scope/run-statement.js'

/** A row when the caller names no type: column name to value, parsed as node-postgres parses it. */
export type Row = Record<string, unknown>

/** What `query` resolves to. For a text of several statements, the last statement's result. */
export interface QueryResult<R = Row> {
  /** The rows returned, as objects keyed by column name. */
  rows: R[]
  /** Rows returned or affected (`INSERT`, `UPDATE`, `DELETE` count what they changed). */
  rowCount: number
  /** The statement's command tag, e.g. 'SELECT', 'INSERT'. */
  command: string
  /** The result's columns, in order. */
  fields: {
    /** The column's name (or alias). */
    name: string
    /** The column type's OID (`pg_type.oid`): 23 for int4, 25 for text, ... */
    dataTypeID: number
  }[]
}

/** A multi-statement text returns one result per statement; the last one is the answer. */
export function toQueryResult<R>(result: DriverResult): QueryResult<R> {
  const last = Array.isArray(result) ? result[result.length - 1] : result
  if (last === undefined) return { rows: [], rowCount: 0, command: '', fields: [] }
  return {
    rows: last.rows as R[],
    rowCount: last.rowCount ?? last.rows.length,
    command: last.command,
    // The server's field descriptions carry these two and more; passed on without copying.
    fields: last.fields,
  }
}

/** Exactly one row. */
export function exactlyOne<R>(result: QueryResult<R>, text: string): R {
  const [first] = result.rows
  if (result.rows.length > 1) throw new TooManyRowsError(result.rows.length, text)
  if (first === undefined) throw new NoRowsError('Expected exactly one row, got none.', text)
  return first
}

/** Zero or one row. */
export function atMostOne<R>(result: QueryResult<R>, text: string): R | null {
  if (result.rows.length > 1) throw new TooManyRowsError(result.rows.length, text)
  return result.rows[0] ?? null
}

/** One row or more. */
export function atLeastOne<R>(result: QueryResult<R>, text: string): R[] {
  if (result.rows.length === 0) throw new NoRowsError('Expected at least one row, got none.', text)
  return result.rows
}
