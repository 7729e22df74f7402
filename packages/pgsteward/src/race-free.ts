/**
 * Helpers for the two races every CRUD service meets: get-or-create under concurrent first
 * requests, and read-modify-write without lost updates. Both rely on the database (a unique
 * constraint, a version column), never on "check first, then write".
 */
import { MisuseError, NoRowsError, StaleVersionError } from './errors/error-classes.js'
import type { Row } from './query-result.js'
import type { Queryable } from './scope/scope-types.js'
import { sql, type SqlFragment } from './sql.js'

/** What {@link getOrCreate} finds or creates. */
export interface GetOrCreateOptions {
  /** Table name, or [schema, table]. */
  table: string | readonly [string, string]
  /** Columns that identify the row. They must be covered by a unique constraint or index. */
  key: Record<string, unknown>
  /** Columns set only when the row is created. (Default: none, only the key columns) */
  values?: Record<string, unknown>
  /** Columns to return. (Default: all) */
  returning?: readonly string[]
}

/** What {@link updateVersioned} changes, and the version it expects. */
export interface VersionedUpdateOptions {
  /** Table name, or [schema, table]. */
  table: string | readonly [string, string]
  /** Columns that identify the row (usually the primary key). */
  key: Record<string, unknown>
  /** The version the caller read; the update applies only if the row still has it. */
  expectedVersion: number
  /** Columns to change. */
  set: Record<string, unknown>
  /** Integer column incremented by every update. (Default: 'version') */
  versionColumn?: string
  /** Columns to return. (Default: all) */
  returning?: readonly string[]
}

const MAX_GET_OR_CREATE_ROUNDS = 5

function tableRef(table: string | readonly [string, string]): SqlFragment {
  return typeof table === 'string' ? sql`${sql.identifier(table)}` : sql`${sql.identifier(table[0], table[1])}`
}

function columnList(names: readonly string[]): SqlFragment {
  return sql.join(names.map((n) => sql.identifier(n)))
}

function returningList(returning: readonly string[] | undefined): SqlFragment {
  return returning === undefined || returning.length === 0 ? sql`*` : columnList(returning)
}

function whereKey(key: Record<string, unknown>): SqlFragment {
  return sql.join(
    Object.entries(key).map(([column, value]) => sql`${sql.identifier(column)} = ${value}`),
    sql` AND `,
  )
}

function checkKey(key: Record<string, unknown>, helper: string): void {
  const entries = Object.entries(key)
  if (entries.length === 0) throw new MisuseError(`${helper} needs at least one key column.`)
  for (const [column, value] of entries) {
    if (value === null || value === undefined) {
      throw new MisuseError(
        `${helper}: key column ${column} is ${String(value)}. NULL never equals NULL, so the row could never be found again; give every key column a value.`,
      )
    }
  }
}

/**
 * Return the row with `key`, creating it (with `values`) if it does not exist; correct under
 * any number of concurrent callers. `INSERT ... ON CONFLICT DO NOTHING` decides who creates;
 * the losers read the winner's row in a new statement, because under READ COMMITTED the
 * insert's own snapshot may predate the winner's commit. (In REPEATABLE READ or SERIALIZABLE,
 * PostgreSQL raises a serialization failure instead, which `transaction` retries.)
 * @param db The database, or a session or transaction to run in.
 * @example
 * ```ts
 * const { row, created } = await getOrCreate(db, { table: 'users', key: { username }, values: { display_name } })
 * ```
 */
export async function getOrCreate<R = Row>(
  db: Queryable,
  options: GetOrCreateOptions,
): Promise<{
  /** The row, as found or as created. */
  row: R
  /** Whether this call created it. */
  created: boolean
}> {
  checkKey(options.key, 'getOrCreate')
  const columns = { ...options.values, ...options.key }
  const names = Object.keys(columns)
  const insert = sql`INSERT INTO ${tableRef(options.table)} (${columnList(names)}) VALUES (${sql.join(Object.values(columns))})
    ON CONFLICT (${columnList(Object.keys(options.key))}) DO NOTHING RETURNING ${returningList(options.returning)}`
  const select = sql`SELECT ${returningList(options.returning)} FROM ${tableRef(options.table)} WHERE ${whereKey(options.key)}`
  for (let round = 0; round < MAX_GET_OR_CREATE_ROUNDS; round++) {
    const created = await db.maybeOne<R>(insert)
    if (created !== null) return { row: created, created: true }
    const existing = await db.maybeOne<R>(select)
    if (existing !== null) return { row: existing, created: false }
    // The conflicting row was deleted between the two statements: try again.
  }
  throw new NoRowsError(`getOrCreate: the row kept being deleted between insert and read (${MAX_GET_OR_CREATE_ROUNDS} rounds).`)
}

/**
 * Optimistic update: apply `set` only if the row is still at `expectedVersion`, incrementing the
 * version. Returns the updated row, or throws `StaleVersionError` with the current version
 * (`NoRowsError` if the row is gone). No lost update is possible, whatever the isolation level.
 * @param db The database, or a session or transaction to run in.
 * @example
 * ```ts
 * try {
 *   const row = await updateVersioned(db, { table: 'projects', key: { id }, expectedVersion: 3, set: { title } })
 * } catch (e) {
 *   if (e instanceof StaleVersionError) return reply.code(409).send({ version: e.currentVersion })
 *   throw e
 * }
 * ```
 */
export async function updateVersioned<R = Row>(db: Queryable, options: VersionedUpdateOptions): Promise<R> {
  checkKey(options.key, 'updateVersioned')
  if (!Number.isSafeInteger(options.expectedVersion)) throw new MisuseError('updateVersioned: expectedVersion must be an integer.')
  const versionColumn = sql.identifier(options.versionColumn ?? 'version')
  const assignments = Object.entries(options.set).map(([column, value]) => sql`${sql.identifier(column)} = ${value}`)
  assignments.push(sql`${versionColumn} = ${versionColumn} + 1`)
  const table = tableRef(options.table)
  const updated = await db.maybeOne<R>(
    sql`UPDATE ${table} SET ${sql.join(assignments)} WHERE ${whereKey(options.key)} AND ${versionColumn} = ${options.expectedVersion}
        RETURNING ${returningList(options.returning)}`,
  )
  if (updated !== null) return updated
  const current = await db.maybeOne<{ version: number | string }>(sql`SELECT ${versionColumn} AS version FROM ${table} WHERE ${whereKey(options.key)}`)
  const name = typeof options.table === 'string' ? options.table : options.table.join('.')
  if (current === null) throw new NoRowsError(`updateVersioned: no row in ${name} with that key.`)
  throw new StaleVersionError(name, options.expectedVersion, Number(current.version))
}
