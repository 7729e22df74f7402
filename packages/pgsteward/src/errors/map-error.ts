/**
 * The one place that knows SQLSTATEs and driver failures: it turns them into pgsteward's
 * classes and answers the questions the pool and transactions ask of an error (is the
 * connection gone? may the transaction be re-run? did the statement cache cause it?).
 */
import {
  AbortedError,
  AdminShutdownError,
  CheckViolationError,
  ConnectionLostError,
  DatabaseError,
  DeadlockDetectedError,
  ExclusionViolationError,
  ForeignKeyViolationError,
  LockNotAvailableError,
  NotificationPayloadError,
  NotNullViolationError,
  PgStewardError,
  QueryCanceledError,
  ReadOnlyTransactionError,
  SerializationFailureError,
  UniqueViolationError,
  type DatabaseErrorClass,
  type ServerErrorFields,
} from './error-classes.js'
import { messages } from './error-messages.js'

const BY_SQLSTATE: ReadonlyMap<string, DatabaseErrorClass> = new Map<string, DatabaseErrorClass>([
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

const SQLSTATE = /^[0-9A-Z]{5}$/

/** An ErrorResponse as pg-protocol parses it (an Error with the server's fields). */
export interface ServerError extends Error {
  message: string
  code: string
  severity?: string | undefined
  detail?: string | undefined
  hint?: string | undefined
  where?: string | undefined
  schema?: string | undefined
  table?: string | undefined
  column?: string | undefined
  dataType?: string | undefined
  constraint?: string | undefined
  routine?: string | undefined
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The SQLSTATE of an error the server sent; undefined for any other failure. */
export function sqlStateOf(err: unknown): string | undefined {
  if (err instanceof DatabaseError) return err.sqlState
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && SQLSTATE.test(code) && typeof (err as { severity?: unknown }).severity === 'string' ? code : undefined
}

/** Whether `err` is an ErrorResponse from the server (as opposed to a socket or client failure). */
export function isServerError(err: unknown): err is ServerError {
  return sqlStateOf(err) !== undefined && !(err instanceof PgStewardError)
}

// ---------------------------------------------------------------- losing the connection

const CONNECTION_CLOSED = Symbol('pgsteward.connectionClosed')

/**
 * The error a statement gets when its connection went away under it. The message is the one
 * node-postgres uses, so code written for `pg` that matches on it keeps working through the facade.
 */
export function connectionClosed(cause?: unknown): Error {
  const reason = cause instanceof Error ? cause.message : undefined
  const err = new Error(reason === undefined ? 'Connection terminated unexpectedly' : `Connection terminated unexpectedly: ${reason}`)
  Object.defineProperty(err, CONNECTION_CLOSED, { value: true })
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, enumerable: false })
  return err
}

const SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])

function isConnectionLoss(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  if ((err as { [CONNECTION_CLOSED]?: boolean })[CONNECTION_CLOSED] === true) return true
  const code = str((err as { code?: unknown }).code)
  return code !== undefined && SOCKET_CODES.has(code)
}

/** SQLSTATEs after which a connection must not be reused: class 08, and the server shutting down. */
export function isConnectionFatal(sqlState: string | undefined): boolean {
  return sqlState !== undefined && (sqlState.startsWith('08') || sqlState === '57P01' || sqlState === '57P02' || sqlState === '57P03')
}

/** True when `err` means the connection is gone (lost socket, or a fatal server error). */
export function breaksConnection(err: unknown): boolean {
  if (err instanceof ConnectionLostError || err instanceof AdminShutdownError) return true
  const sqlState = sqlStateOf(err)
  if (sqlState !== undefined)
    return isConnectionFatal(sqlState) || str((err as ServerError).severity) === 'FATAL' || str((err as ServerError).severity) === 'PANIC'
  return isConnectionLoss(err)
}

/**
 * A failure to open a connection that retrying will not fix: credentials (class 28), an unknown
 * database (3D000), a server without TLS where TLS is required, a certificate that does not verify.
 */
export function isPermanentConnectFailure(err: unknown): boolean {
  const sqlState = sqlStateOf(err)
  const message = err instanceof Error ? err.message : ''
  // A pooler refusing a setting sent at connect (PgBouncer, 08P01: "unsupported startup parameter: options") refuses it every time.
  if (message.startsWith('unsupported startup parameter')) return true
  if (sqlState !== undefined) return sqlState.startsWith('28') || sqlState === '3D000'
  const code = str((err as { code?: unknown } | null)?.code) ?? ''
  return (
    message === 'The server does not support SSL connections' ||
    code.startsWith('ERR_TLS') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'CERT_HAS_EXPIRED' ||
    code === 'ENOTFOUND' ||
    (err instanceof Error && err.name === 'AuthenticationError')
  )
}

// ---------------------------------------------------------------- what a statement's failure means

/** 25006: the server is read-only (a standby, or a primary demoted under us). */
export function isReadOnlyViolation(err: unknown): boolean {
  return sqlStateOf(err) === '25006'
}

/** 25P02: a statement ran inside a transaction that had already failed. */
export function isInFailedTransaction(err: unknown): boolean {
  return sqlStateOf(err) === '25P02'
}

/** What went wrong with a cached (named) statement, if that is why the server refused it. */
export function statementCacheFailure(err: unknown): 'stale-plan' | 'missing' | 'duplicate' | undefined {
  const sqlState = sqlStateOf(err)
  // 0A000 "cached plan must not change result type", raised while re-checking the plan at Bind.
  if (sqlState === '0A000' && ((err as ServerError).routine === 'RevalidateCachedQuery' || String((err as ServerError).message).includes('cached plan'))) {
    return 'stale-plan'
  }
  // 26000 "prepared statement ... does not exist": deallocated behind the cache's back, or a pooler moved us.
  if (sqlState === '26000') return 'missing'
  // 42P05 "prepared statement ... already exists": a pooler gave this client a backend another client prepared on.
  if (sqlState === '42P05') return 'duplicate'
  return undefined
}

const CACHE_FAILURE = Symbol('pgsteward.statementCacheFailure')

/** Record on `err` that the statement cache caused it (running the work again will not repeat it). */
export function markStatementCacheFailure(err: object): void {
  Object.defineProperty(err, CACHE_FAILURE, { value: true })
}

/** Errors for which re-running the whole transaction is the remedy: serialization failure, deadlock, a stale cached statement. */
export function isRetryableTransactionError(err: unknown): boolean {
  if (err instanceof SerializationFailureError || err instanceof DeadlockDetectedError) return true
  return typeof err === 'object' && err !== null && (err as { [CACHE_FAILURE]?: boolean })[CACHE_FAILURE] === true
}

// ---------------------------------------------------------------- the mapper

/**
 * Data errors (class 22) quote the offending input in their message ("invalid input syntax for
 * type integer: \"abc\""); quoted text is replaced so values do not reach logs.
 */
function redactMessage(sqlState: string, message: string): string {
  return sqlState.startsWith('22') ? message.replace(/"[^"]*"/g, '"…"') : message
}

/** 22023 is any invalid parameter value; from pg_notify/NOTIFY (routine Async_Notify) about the payload, it is the payload limit. */
function isPayloadTooLong(e: ServerError): boolean {
  return e.code === '22023' && e.routine === 'Async_Notify' && /payload/i.test(str(e.message) ?? '')
}

function fromServerError(e: ServerError, sql: string | undefined): DatabaseError | NotificationPayloadError {
  const fields: ServerErrorFields = {
    sqlState: e.code,
    severity: str(e.severity),
    constraint: str(e.constraint),
    table: str(e.table),
    column: str(e.column),
    schema: str(e.schema),
    dataType: str(e.dataType),
    hint: str(e.hint),
    sql,
  }
  const message = redactMessage(e.code, str(e.message) ?? 'database error')
  const quoting = { detail: str(e.detail), where: str(e.where) }
  if (isPayloadTooLong(e)) return new NotificationPayloadError(undefined, { cause: new DatabaseError(`SQLSTATE_${e.code}`, message, fields, quoting) })
  const Known = BY_SQLSTATE.get(e.code)
  const mapped = Known
    ? new Known(message, fields, quoting)
    : e.code.startsWith('08')
      ? new ConnectionLostError(message, fields, quoting)
      : new DatabaseError(`SQLSTATE_${e.code}`, message, fields, quoting)
  if (isRetryableTransactionError(e)) markStatementCacheFailure(mapped)
  return mapped
}

/**
 * The one mapper from a driver or server failure to pgsteward's classes. Errors that are already
 * ours pass through; anything unrecognised is returned unchanged. Call it in a promise reaction
 * the caller awaits, so V8's async stack trace puts the caller's frames on the new error.
 */
export function mapError(err: unknown, sql?: string): unknown {
  if (err instanceof PgStewardError || typeof err !== 'object' || err === null) return err
  if (isServerError(err)) return fromServerError(err, sql)
  if (isConnectionLoss(err)) {
    const reason = str((err as { message?: unknown }).message) ?? 'socket closed'
    const lost = new ConnectionLostError(messages.connectionLost(reason), { sqlState: '08006', sql })
    if (isRetryableTransactionError(err)) markStatementCacheFailure(lost)
    return lost
  }
  return err
}

/** The error an abort rejects with: our own abort errors pass through, any other reason is wrapped. */
export function abortErrorFrom(reason: unknown): AbortedError {
  return reason instanceof AbortedError ? reason : new AbortedError(reason)
}
