/**
 * Every error pgsteward raises, and the one function that turns a driver error into one of them.
 *
 * Each class has a stable string `code` (for programs) and a message that says what happened and
 * what to do (for people). Errors that come from PostgreSQL keep `sqlState`, the SQL text (never
 * the parameter values) and the driver error as `cause`.
 */

import { fileURLToPath } from 'node:url'
import { isStatementCacheFailure } from './statement-cache.js'

/** Fields PostgreSQL reports with an error, where it reports them. */
export interface ServerErrorFields {
  sqlState: string
  constraint?: string | undefined
  table?: string | undefined
  column?: string | undefined
  schema?: string | undefined
  hint?: string | undefined
  /** The SQL text of the failed statement, with `$n` placeholders: values are never included. */
  sql?: string | undefined
}

/** Root of every error pgsteward raises. `code` is stable across versions. */
export class PgStewardError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

// ---------------------------------------------------------------- configuration and misuse

/** Options given to `createDatabase` are wrong: `problems` lists each one with its fix. */
export class ConfigError extends PgStewardError {
  readonly problems: readonly string[]
  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', `pgsteward configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options)
    this.problems = problems
  }
}

/** The library was called in a way that cannot work; the message names the fix. */
export class MisuseError extends PgStewardError {
  constructor(message: string) {
    super('MISUSE', message)
  }
}

// ---------------------------------------------------------------- pool

/** A snapshot of the pool's gauges, carried by pool errors so a timeout explains itself. */
export interface PoolStateSnapshot {
  total: number
  idle: number
  inUse: number
  waiting: number
  connecting: number
  max: number
}

/** A connection holder, as leak detection or session tracking recorded it. */
export interface HolderInfo {
  connectionId: number
  heldMs: number
  /** Stack of the code that acquired the connection, when it was recorded. */
  acquiredAt?: string | undefined
}

/** Said in place of a call site the database did not record (see the `callSites` option). */
function notRecorded(what: string): string {
  return (
    `\nWhere the ${what} was opened was not recorded: by default (callSites: 'after-first-error') call sites are recorded only once such an error ` +
    "has been raised, so scopes opened from now on name theirs. Set callSites: 'always' in createDatabase to record them from the start."
  )
}

function describeHolders(holders: readonly HolderInfo[]): string {
  if (holders.length === 0) return ''
  const lines = holders.map(
    (h) => `  connection #${h.connectionId} held for ${h.heldMs} ms${h.acquiredAt ? `, acquired at:\n${indent(h.acquiredAt, 6)}` : ''}`,
  )
  return `\nConnections in use:\n${lines.join('\n')}`
}

/** This package's compiled code and, where source maps translate frames back, its sources. */
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url))
const OWN_CODE = [`${PACKAGE_ROOT}dist/`, `${PACKAGE_ROOT}src/`]

/**
 * A recorded stack as a reader wants it: the caller's frames, without pgsteward's own or Node's
 * internals, indented under the message.
 */
function indent(stack: string, spaces: number): string {
  const pad = ' '.repeat(spaces)
  return stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !OWN_CODE.some((dir) => line.includes(dir)) && !line.includes('(node:') && !line.startsWith('at node:'))
    .map((line) => pad + line)
    .join('\n')
}

export function describePoolState(s: PoolStateSnapshot): string {
  return `total ${s.total}/${s.max}, idle ${s.idle}, in use ${s.inUse}, waiting ${s.waiting}, connecting ${s.connecting}`
}

/** No connection became free within the acquire timeout. */
export class PoolTimeoutError extends PgStewardError {
  readonly waitedMs: number
  readonly pool: PoolStateSnapshot
  readonly holders: readonly HolderInfo[]
  constructor(waitedMs: number, pool: PoolStateSnapshot, holders: readonly HolderInfo[], cause?: unknown) {
    const why =
      cause !== undefined
        ? ' The server could not be reached: see `cause`.'
        : pool.inUse >= pool.max
          ? ' Every connection was in use: release connections sooner, raise pool.max, or enable pool.leakDetectionMs to find a holder that never releases.' +
            (holders.length === 0 ? " Sessions and transactions opened from now on record where they were opened, and a timeout lists them (option callSites)." : '')
          : ''
    super(
      'POOL_TIMEOUT',
      `Timed out after ${waitedMs} ms waiting for a connection (pool: ${describePoolState(pool)}).${why}${describeHolders(holders)}`,
      cause !== undefined ? { cause } : undefined,
    )
    this.waitedMs = waitedMs
    this.pool = pool
    this.holders = holders
  }
}

/** The pool is closing or closed; no new work is accepted. */
export class PoolClosedError extends PgStewardError {
  constructor() {
    super('POOL_CLOSED', 'The database pool is closed: no new queries are accepted after close().')
  }
}

/**
 * Code that already holds a connection asked for another while the pool had none free. Waiting
 * would deadlock as soon as every holder does the same, so this fails at once.
 */
export class PoolDeadlockError extends PgStewardError {
  readonly pool: PoolStateSnapshot
  readonly holder: HolderInfo
  constructor(pool: PoolStateSnapshot, holder: HolderInfo) {
    super(
      'POOL_DEADLOCK',
      `This code already holds connection #${holder.connectionId} and asked for another (independent: true) while the pool had none free (${describePoolState(pool)}). ` +
        'Waiting could deadlock the pool. Run the work on the connection you hold (drop independent: true), ' +
        'finish the outer scope first, or raise pool.max above the number of scopes that nest.' +
        (holder.acquiredAt ? `\nThe held connection was acquired at:\n${indent(holder.acquiredAt, 2)}` : notRecorded('scope holding it')),
    )
    this.pool = pool
    this.holder = holder
  }
}

/** Opening a connection failed in a way retrying will not fix (bad password, unknown database). */
export class ConnectionError extends PgStewardError {
  readonly sqlState: string | undefined
  constructor(message: string, cause: unknown, sqlState?: string) {
    super('CONNECTION_FAILED', message, { cause })
    this.sqlState = sqlState
  }
}

/** A connection was returned twice, or used after it was returned. */
export class ReleasedConnectionError extends PgStewardError {
  constructor(message: string) {
    super('CONNECTION_RELEASED', message)
  }
}

// ---------------------------------------------------------------- sessions

/** A session or transaction object was used after its callback settled. */
export class SessionClosedError extends PgStewardError {
  readonly openedAt: string | undefined
  constructor(kind: string, openedAt: string | undefined) {
    super(
      'SESSION_CLOSED',
      `This ${kind} was used after its callback settled; its connection is back in the pool. ` +
        `Do the work inside the callback, or open a new ${kind}.` +
        (openedAt ? `\nThe ${kind} was opened at:\n${indent(openedAt, 2)}` : notRecorded(kind)),
    )
    this.openedAt = openedAt
  }
}

/** A session or transaction was used from an async scope that does not own it. */
export class ConcurrentUseError extends PgStewardError {
  readonly openedAt: string | undefined
  readonly usedAt: string | undefined
  constructor(kind: string, openedAt: string | undefined, usedAt: string | undefined) {
    super(
      'SESSION_CONCURRENT_USE',
      `This ${kind} belongs to another async scope (another request or task) and was used from outside it. ` +
        `Two tasks sharing one connection interleave their statements. Open a ${kind} of your own with db.${kind}(...) or use db.query, ` +
        `which joins the ${kind} of the current scope.` +
        (openedAt ? `\nOpened at:\n${indent(openedAt, 2)}` : notRecorded(kind)) +
        (usedAt ? `\nUsed at:\n${indent(usedAt, 2)}` : ''),
    )
    this.openedAt = openedAt
    this.usedAt = usedAt
  }
}

/** The caller's signal aborted, or the scope's `timeoutMs` passed. `reason` is the abort reason. */
export class AbortedError extends PgStewardError {
  readonly reason: unknown
  constructor(reason: unknown, code = 'ABORTED', message?: string) {
    super(code, message ?? `The operation was aborted${reasonText(reason)}; its query was cancelled and its transaction rolled back.`, {
      cause: reason,
    })
    this.reason = reason
  }
}

/** The scope's `timeoutMs` passed before it finished. */
export class ScopeTimeoutError extends AbortedError {
  readonly timeoutMs: number
  constructor(timeoutMs: number) {
    super(
      undefined,
      'SCOPE_TIMEOUT',
      `The operation did not finish within its timeoutMs of ${timeoutMs} ms; its query was cancelled and its transaction rolled back.`,
    )
    this.timeoutMs = timeoutMs
  }
}

/** The error an abort rejects with: our own abort errors pass through, any other reason is wrapped. */
export function abortErrorFrom(reason: unknown): AbortedError {
  return reason instanceof AbortedError ? reason : new AbortedError(reason)
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return `: ${reason.message}`
  if (typeof reason === 'string') return `: ${reason}`
  return ''
}

/**
 * The connection was lost while COMMIT was in flight: the transaction may or may not have
 * committed. Never retried automatically; check the data before repeating the work.
 */
export class AmbiguousCommitError extends PgStewardError {
  constructor(cause: unknown) {
    super(
      'COMMIT_AMBIGUOUS',
      'The connection was lost or abandoned while COMMIT was in flight: the transaction may or may not have been committed. ' +
        'It was not retried. Check whether its effects are present before repeating it, or make the work idempotent.',
      { cause },
    )
  }
}

/**
 * A statement inside the transaction failed and the callback caught the error and carried on.
 * PostgreSQL had already aborted the transaction, so nothing of it was committed.
 */
export class FailedTransactionError extends PgStewardError {
  constructor(kind: 'transaction' | 'savepoint') {
    super(
      'TRANSACTION_FAILED',
      `A statement in this ${kind} failed and its error was caught inside the callback. PostgreSQL aborts a transaction at its first failed statement, ` +
        `so the ${kind} was rolled back, not committed. Let the error propagate, or wrap the statement whose failure you expect in tx.transaction(...) (a savepoint).`,
    )
  }
}

/** An optimistic update found a different version than expected. */
export class StaleVersionError extends PgStewardError {
  readonly expectedVersion: number
  readonly currentVersion: number
  constructor(table: string, expectedVersion: number, currentVersion: number) {
    super(
      'STALE_VERSION',
      `The row in ${table} is at version ${currentVersion}, not the expected ${expectedVersion}: someone else changed it. Re-read it and apply the change again.`,
    )
    this.expectedVersion = expectedVersion
    this.currentVersion = currentVersion
  }
}

/** `one` found no row, or an optimistic update's row no longer exists. */
export class NoRowsError extends PgStewardError {
  readonly sql: string | undefined
  constructor(message: string, sql?: string) {
    super('NO_ROWS', message)
    this.sql = sql
  }
}

/** `one` or `maybeOne` found more than one row. */
export class TooManyRowsError extends PgStewardError {
  readonly sql: string | undefined
  readonly rowCount: number
  constructor(rowCount: number, sql?: string) {
    super('TOO_MANY_ROWS', `Expected at most one row, got ${rowCount}.`)
    this.sql = sql
    this.rowCount = rowCount
  }
}

// ---------------------------------------------------------------- errors from PostgreSQL

/** An error PostgreSQL reported for a statement, or the loss of the connection under it. */
export class DatabaseError extends PgStewardError implements ServerErrorFields {
  readonly sqlState: string
  readonly constraint: string | undefined
  readonly table: string | undefined
  readonly column: string | undefined
  readonly schema: string | undefined
  readonly hint: string | undefined
  readonly sql: string | undefined
  /** PostgreSQL's detail line: it can quote row values, so it is kept out of the message and out of logs. */
  declare readonly detail: string | undefined
  constructor(code: string, message: string, fields: ServerErrorFields, cause: unknown, detail?: string) {
    super(code, message, { cause })
    this.sqlState = fields.sqlState
    this.constraint = fields.constraint
    this.table = fields.table
    this.column = fields.column
    this.schema = fields.schema
    this.hint = fields.hint
    this.sql = fields.sql
    Object.defineProperty(this, 'detail', { value: detail, enumerable: false })
  }
}

type DatabaseErrorArgs = [message: string, fields: ServerErrorFields, cause: unknown, detail?: string]

export class IntegrityConstraintError extends DatabaseError {}
export class UniqueViolationError extends IntegrityConstraintError {
  constructor(...a: DatabaseErrorArgs) {
    super('UNIQUE_VIOLATION', ...a)
  }
}
export class ForeignKeyViolationError extends IntegrityConstraintError {
  constructor(...a: DatabaseErrorArgs) {
    super('FOREIGN_KEY_VIOLATION', ...a)
  }
}
export class NotNullViolationError extends IntegrityConstraintError {
  constructor(...a: DatabaseErrorArgs) {
    super('NOT_NULL_VIOLATION', ...a)
  }
}
export class CheckViolationError extends IntegrityConstraintError {
  constructor(...a: DatabaseErrorArgs) {
    super('CHECK_VIOLATION', ...a)
  }
}
export class ExclusionViolationError extends IntegrityConstraintError {
  constructor(...a: DatabaseErrorArgs) {
    super('EXCLUSION_VIOLATION', ...a)
  }
}
/** SQLSTATE 40001: retried automatically by `transaction` up to `retry.max`. */
export class SerializationFailureError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('SERIALIZATION_FAILURE', ...a)
  }
}
/** SQLSTATE 40P01: retried automatically by `transaction` up to `retry.max`. */
export class DeadlockDetectedError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('DEADLOCK_DETECTED', ...a)
  }
}
/** SQLSTATE 55P03: NOWAIT or lock_timeout could not get a lock. */
export class LockNotAvailableError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('LOCK_NOT_AVAILABLE', ...a)
  }
}
/** SQLSTATE 57014: statement_timeout, or a cancel request. */
export class QueryCanceledError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('QUERY_CANCELED', ...a)
  }
}
/** SQLSTATE 25006: a write inside a read-only transaction. */
export class ReadOnlyTransactionError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('READ_ONLY_TRANSACTION', ...a)
  }
}
/** SQLSTATE 57P01/57P02/57P03: the server is shutting down or restarting. */
export class AdminShutdownError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('ADMIN_SHUTDOWN', ...a)
  }
}
/** SQLSTATE class 08, or the socket closed under a statement: the connection is gone. */
export class ConnectionLostError extends DatabaseError {
  constructor(...a: DatabaseErrorArgs) {
    super('CONNECTION_LOST', ...a)
  }
}

type ErrorClass = new (...a: DatabaseErrorArgs) => DatabaseError

const BY_SQLSTATE: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['23505', UniqueViolationError],
  ['23503', ForeignKeyViolationError],
  ['23502', NotNullViolationError],
  ['23514', CheckViolationError],
  ['23P01', ExclusionViolationError],
  ['40001', SerializationFailureError],
  ['40P01', DeadlockDetectedError],
  ['55P03', LockNotAvailableError],
  ['57014', QueryCanceledError],
  ['25006', ReadOnlyTransactionError],
  ['57P01', AdminShutdownError],
  ['57P02', AdminShutdownError],
  ['57P03', AdminShutdownError],
])

/** SQLSTATEs after which a connection must not be reused. */
export function isConnectionFatal(sqlState: string | undefined): boolean {
  return sqlState !== undefined && (sqlState.startsWith('08') || sqlState === '57P01' || sqlState === '57P02' || sqlState === '57P03')
}

/** Errors for which re-running the whole transaction is the remedy: serialization failure, deadlock, a stale cached statement. */
export function isRetryableTransactionError(err: unknown): boolean {
  return err instanceof SerializationFailureError || err instanceof DeadlockDetectedError || isStatementCacheFailure(err)
}

interface DriverErrorShape {
  message?: unknown
  code?: unknown
  constraint?: unknown
  table?: unknown
  column?: unknown
  schema?: unknown
  hint?: unknown
  detail?: unknown
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const SQLSTATE = /^[0-9A-Z]{5}$/

/** Socket-level failures that node-postgres reports without a SQLSTATE. */
function isSocketLoss(err: DriverErrorShape): boolean {
  const message = str(err.message) ?? ''
  const code = str(err.code)
  return (
    message.startsWith('Connection terminated') ||
    message === 'Client has encountered a connection error and is not queryable' ||
    message === 'Client was closed and is not queryable' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ECONNREFUSED' ||
    code === 'ETIMEDOUT'
  )
}

/**
 * Data errors (class 22) quote the offending input in their message ("invalid input syntax for
 * type integer: \"abc\""); quoted text is replaced so values do not reach logs.
 */
function redactMessage(sqlState: string, message: string): string {
  return sqlState.startsWith('22') ? message.replace(/"[^"]*"/g, '"…"') : message
}

/**
 * The one mapper from a driver error to pgsteward's classes. Errors that are already ours pass
 * through; anything unrecognised is returned unchanged. Call it from inside an `async` function
 * after an `await`, so V8's async stack trace puts the caller's frames on the new error.
 */
export function mapDriverError(err: unknown, sql?: string): unknown {
  if (err instanceof PgStewardError || typeof err !== 'object' || err === null) return err
  const e = err as DriverErrorShape
  const code = str(e.code)
  const detail = str(e.detail)
  // The driver's error carries `detail` (row values) as an enumerable field; hide it from loggers
  // that walk `cause`, while keeping it readable for code that asks.
  if (detail !== undefined) Object.defineProperty(err, 'detail', { value: detail, enumerable: false })
  if (code !== undefined && SQLSTATE.test(code)) {
    const fields: ServerErrorFields = {
      sqlState: code,
      constraint: str(e.constraint),
      table: str(e.table),
      column: str(e.column),
      schema: str(e.schema),
      hint: str(e.hint),
      sql,
    }
    const message = redactMessage(code, str(e.message) ?? 'database error')
    const Known = BY_SQLSTATE.get(code)
    if (Known) return new Known(message, fields, err, detail)
    if (code.startsWith('08')) return new ConnectionLostError(message, fields, err, detail)
    return new DatabaseError(`SQLSTATE_${code}`, message, fields, err, detail)
  }
  if (isSocketLoss(e)) {
    return new ConnectionLostError(`The connection was lost: ${str(e.message) ?? 'socket closed'}`, { sqlState: '08006', sql }, err)
  }
  return err
}
