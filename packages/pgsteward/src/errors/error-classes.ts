/**
 * Every error pgsteward raises. Each class has a stable string `code` (for programs) and a
 * message that says what happened and what to do (for people; the texts live in
 * error-messages.ts). Errors that come from PostgreSQL keep `sqlState`, the SQL text with `$n`
 * placeholders, and the fields PostgreSQL names (constraint, table, ...), never parameter values.
 */
import { messages, type HolderInfo, type PoolStateSnapshot } from './error-messages.js'

export type { HolderInfo, PoolStateSnapshot } from './error-messages.js'

/**
 * Root of every error pgsteward raises. `code` is stable across versions.
 * @example
 * try { await db.query(sql`...`) } catch (e) { if (e instanceof PgStewardError) log.warn({ code: e.code }, e.message) }
 */
export class PgStewardError extends Error {
  /** A stable identifier of the error's kind, such as `POOL_TIMEOUT` or `UNIQUE_VIOLATION`. */
  readonly code: string
  constructor(
    code: string,
    message: string,
    options?: {
      /** The underlying failure. (Default: none) */
      cause?: unknown
    },
  ) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

// ---------------------------------------------------------------- configuration and misuse

/** Options given to `createDatabase` are wrong: `problems` lists each one with its fix. Code `CONFIG_INVALID`. */
export class ConfigError extends PgStewardError {
  /** Every problem found, each with what to change. */
  readonly problems: readonly string[]
  constructor(
    problems: readonly string[],
    options?: {
      /** The underlying failure. (Default: none) */
      cause?: unknown
    },
  ) {
    super('CONFIG_INVALID', messages.configInvalid(problems), options)
    this.problems = problems
  }
}

/** The library was called in a way that cannot work; the message names the fix. Code `MISUSE`. */
export class MisuseError extends PgStewardError {
  constructor(message: string) {
    super('MISUSE', message)
  }
}

/** A parameter value cannot be sent (a throwing `toJSON`, a circular object, a Symbol...). Nothing was sent. Code `PARAMETER_INVALID`. */
export class ParameterError extends PgStewardError {
  /** The parameter's 1-based position (`$n`). */
  readonly position: number
  /** The statement's SQL text with placeholders. */
  readonly sql: string | undefined
  constructor(position: number, reason: string, sql?: string) {
    super('PARAMETER_INVALID', messages.parameterInvalid(position, reason))
    this.position = position
    this.sql = sql
  }
}

/** A statement with more than 65,535 parameters, which the protocol cannot carry. Nothing was sent. Code `TOO_MANY_PARAMETERS`. */
export class TooManyParametersError extends PgStewardError {
  /** How many parameters the statement had. */
  readonly count: number
  /** The statement's SQL text with placeholders. */
  readonly sql: string | undefined
  constructor(count: number, sql?: string) {
    super('TOO_MANY_PARAMETERS', messages.tooManyParameters(count))
    this.count = count
    this.sql = sql
  }
}

/**
 * A NOTIFY payload over PostgreSQL's limit of 7,999 bytes: `db.notify` refuses it before sending
 * anything; `pg_notify` or `NOTIFY` in your own SQL gets it from the server (SQLSTATE 22023,
 * "payload string too long", kept as `cause`). Nothing was delivered. Code `NOTIFICATION_PAYLOAD_TOO_LARGE`.
 * @example
 * ```ts
 * try {
 *   await db.notify('jobs', JSON.stringify(job))
 * } catch (e) {
 *   if (e instanceof NotificationPayloadError) await db.notify('jobs', String(job.id)) // send an id instead
 *   else throw e
 * }
 * ```
 */
export class NotificationPayloadError extends PgStewardError {
  /** The payload's size in bytes (UTF-8); undefined when the server refused a payload pgsteward did not measure. */
  readonly bytes: number | undefined
  constructor(
    bytes: number | undefined,
    options?: {
      /** The server's error, when it was the server that refused it. (Default: none) */
      cause?: unknown
    },
  ) {
    super('NOTIFICATION_PAYLOAD_TOO_LARGE', messages.notificationPayload(bytes), options)
    this.bytes = bytes
  }
}

/**
 * A write token given to `db.read(fn, { after })` is not one: tokens come from `db.writeToken()`
 * and look like `16/B374D848`. Usually a client sent a mangled cookie or header: answer 400.
 * Code `WRITE_TOKEN_INVALID`.
 * @example
 * ```ts
 * try {
 *   return await db.read((tx) => tx.many(sql`select * from posts`), { after: request.headers['x-write-token'] })
 * } catch (e) {
 *   if (e instanceof WriteTokenError) return reply.code(400).send({ error: e.message })
 *   throw e
 * }
 * ```
 */
export class WriteTokenError extends PgStewardError {
  constructor(where: string, token: unknown) {
    super('WRITE_TOKEN_INVALID', messages.writeTokenInvalid(where, typeof token === 'string' ? token.length : undefined))
  }
}

// ---------------------------------------------------------------- pool

/** No connection became free within the acquire timeout. Code `POOL_TIMEOUT`. */
export class PoolTimeoutError extends PgStewardError {
  /** How long the caller waited. */
  readonly waitedMs: number
  /** The pool's gauges when it gave up. */
  readonly pool: PoolStateSnapshot
  /** Who held connections and since when (recorded call sites, longest-held first). */
  readonly holders: readonly HolderInfo[]
  constructor(waitedMs: number, pool: PoolStateSnapshot, holders: readonly HolderInfo[]) {
    super('POOL_TIMEOUT', messages.poolTimeout(waitedMs, pool, holders))
    this.waitedMs = waitedMs
    this.pool = pool
    this.holders = holders
  }
}

/** The pool is closing or closed; no new work is accepted. Code `POOL_CLOSED`. */
export class PoolClosedError extends PgStewardError {
  constructor() {
    super('POOL_CLOSED', messages.poolClosed())
  }
}

/**
 * Code that holds a connection asked for another when every connection is held by it or by code
 * itself waiting for one: nobody can return one, so this fails at once instead of waiting for
 * the timeout. A merely busy pool makes it wait like anyone else. Code `POOL_DEADLOCK`.
 */
export class PoolDeadlockError extends PgStewardError {
  /** The pool's gauges when the request was refused. */
  readonly pool: PoolStateSnapshot
  /** The most recently acquired connection of the asking chain of scopes. */
  readonly holder: HolderInfo
  constructor(pool: PoolStateSnapshot, holder: HolderInfo) {
    super('POOL_DEADLOCK', messages.poolDeadlock(pool, holder))
    this.pool = pool
    this.holder = holder
  }
}

/**
 * No connection could be opened: the server is unreachable, refused the credentials or the
 * database, or no host matched `target_session_attrs`. `cause` is the last underlying failure.
 * Code `CONNECTION_FAILED`.
 */
export class ConnectionError extends PgStewardError {
  /** The SQLSTATE the server gave, when it answered (28P01 bad password, 3D000 no such database, ...). */
  readonly sqlState: string | undefined
  constructor(message: string, cause: unknown, sqlState?: string) {
    super('CONNECTION_FAILED', message, { cause })
    this.sqlState = sqlState
  }
}

/** A connection was returned twice, or used after it was returned. Code `CONNECTION_RELEASED`. */
export class ReleasedConnectionError extends PgStewardError {
  constructor(message: string) {
    super('CONNECTION_RELEASED', message)
  }
}

// ---------------------------------------------------------------- sessions

/** A session or transaction object was used after its callback settled. Code `SESSION_CLOSED`. */
export class SessionClosedError extends PgStewardError {
  /** Where the scope was opened, when recorded. */
  readonly openedAt: string | undefined
  constructor(kind: string, openedAt: string | undefined) {
    super('SESSION_CLOSED', messages.sessionClosed(kind, openedAt))
    this.openedAt = openedAt
  }
}

/** A session or transaction was used from an async scope that does not own it. Code `SESSION_CONCURRENT_USE`. */
export class ConcurrentUseError extends PgStewardError {
  /** Where the scope was opened, when recorded (see the `callSites` option). */
  readonly openedAt: string | undefined
  /** Where the offending call came from, when recorded. */
  readonly usedAt: string | undefined
  constructor(kind: string, openedAt: string | undefined, usedAt: string | undefined) {
    super('SESSION_CONCURRENT_USE', messages.concurrentUse(kind, openedAt, usedAt))
    this.openedAt = openedAt
    this.usedAt = usedAt
  }
}

/** The caller's signal aborted. `reason` is the signal's reason. Code `ABORTED`. */
export class AbortedError extends PgStewardError {
  /** The abort reason the signal carried. */
  readonly reason: unknown
  constructor(reason: unknown, code = 'ABORTED', message?: string) {
    super(code, message ?? messages.aborted(reason), { cause: reason })
    this.reason = reason
  }
}

/** The scope's or statement's `timeoutMs` passed before it finished. Code `SCOPE_TIMEOUT`. */
export class ScopeTimeoutError extends AbortedError {
  /** The `timeoutMs` that passed. */
  readonly timeoutMs: number
  constructor(timeoutMs: number) {
    super(undefined, 'SCOPE_TIMEOUT', messages.timedOut(timeoutMs))
    this.timeoutMs = timeoutMs
  }
}

/**
 * The connection was lost after COMMIT was sent and before its answer: the transaction may or
 * may not have committed. Never retried automatically. When COMMIT was never sent, or the
 * transaction was read-only, the error is the connection error instead. Code `COMMIT_AMBIGUOUS`.
 */
export class AmbiguousCommitError extends PgStewardError {
  constructor(cause: unknown) {
    super('COMMIT_AMBIGUOUS', messages.ambiguousCommit(), { cause })
  }
}

/**
 * A statement inside the transaction failed and the callback caught the error and carried on.
 * PostgreSQL had already aborted the transaction, so nothing of it was committed. Code `TRANSACTION_FAILED`.
 */
export class FailedTransactionError extends PgStewardError {
  constructor(kind: 'transaction' | 'savepoint') {
    super('TRANSACTION_FAILED', messages.failedTransaction(kind))
  }
}

/** An optimistic update found a different version than expected. Code `STALE_VERSION`. */
export class StaleVersionError extends PgStewardError {
  /** The version the caller read and expected to update. */
  readonly expectedVersion: number
  /** The version the row has now: read it again, merge, and retry with this one. */
  readonly currentVersion: number
  constructor(table: string, expectedVersion: number, currentVersion: number) {
    super('STALE_VERSION', messages.staleVersion(table, expectedVersion, currentVersion))
    this.expectedVersion = expectedVersion
    this.currentVersion = currentVersion
  }
}

/** `one` or `many` found no row, or an optimistic update's row no longer exists. Code `NO_ROWS`. */
export class NoRowsError extends PgStewardError {
  /** The statement's SQL text with placeholders, when a statement found nothing. */
  readonly sql: string | undefined
  constructor(message: string, sql?: string) {
    super('NO_ROWS', message)
    this.sql = sql
  }
}

/** `one` or `maybeOne` found more than one row. Code `TOO_MANY_ROWS`. */
export class TooManyRowsError extends PgStewardError {
  /** The statement's SQL text with placeholders. */
  readonly sql: string | undefined
  /** How many rows came back. */
  readonly rowCount: number
  constructor(rowCount: number, sql?: string) {
    super('TOO_MANY_ROWS', messages.tooManyRows(rowCount))
    this.sql = sql
    this.rowCount = rowCount
  }
}

// ---------------------------------------------------------------- errors from PostgreSQL

/** Fields PostgreSQL reports with an error, where it reports them; none of them quotes a value. */
export interface ServerErrorFields {
  /** The five-character SQLSTATE, e.g. `23505`. */
  sqlState: string
  /** ERROR, FATAL or PANIC. */
  severity?: string | undefined
  /** The constraint that refused the change, for integrity errors. */
  constraint?: string | undefined
  /** The table the error concerns. */
  table?: string | undefined
  /** The column the error concerns. */
  column?: string | undefined
  /** The schema of the table or type the error concerns. */
  schema?: string | undefined
  /** The data type the error concerns. */
  dataType?: string | undefined
  /** PostgreSQL's suggestion, when it has one. */
  hint?: string | undefined
  /** The SQL text of the failed statement, with `$n` placeholders: values are never included. */
  sql?: string | undefined
}

/** Fields that can quote row or parameter values: readable, but kept out of messages, JSON and logs. */
export interface QuotingServerFields {
  /** PostgreSQL's detail line, e.g. `Key (email)=(a@example.com) already exists.` */
  detail?: string | undefined
  /** PostgreSQL's context: where in a function or trigger the error arose. */
  where?: string | undefined
}

/**
 * An error PostgreSQL reported for a statement (code `SQLSTATE_<state>` when no subclass names
 * it), or the loss of the connection under it.
 */
export class DatabaseError extends PgStewardError implements ServerErrorFields {
  /** The five-character SQLSTATE, e.g. `23505`. */
  readonly sqlState: string
  /** ERROR, FATAL or PANIC. */
  readonly severity: string | undefined
  /** The constraint that refused the change, for integrity errors. */
  readonly constraint: string | undefined
  /** The table the error concerns. */
  readonly table: string | undefined
  /** The column the error concerns. */
  readonly column: string | undefined
  /** The schema of the table or type the error concerns. */
  readonly schema: string | undefined
  /** The data type the error concerns. */
  readonly dataType: string | undefined
  /** PostgreSQL's suggestion, when it has one. */
  readonly hint: string | undefined
  /** The SQL text of the failed statement, with `$n` placeholders: values are never included. */
  readonly sql: string | undefined
  /** PostgreSQL's detail line: it can quote row values, so it is not enumerable and never in the message. */
  declare readonly detail: string | undefined
  /** PostgreSQL's context ("PL/pgSQL function ... line 3"): it can quote values too, so likewise hidden. */
  declare readonly where: string | undefined
  constructor(
    code: string,
    message: string,
    fields: ServerErrorFields,
    quoting?: QuotingServerFields,
    options?: {
      /** The driver's error this one was mapped from. (Default: none) */
      cause?: unknown
    },
  ) {
    super(code, message, options)
    this.sqlState = fields.sqlState
    this.severity = fields.severity
    this.constraint = fields.constraint
    this.table = fields.table
    this.column = fields.column
    this.schema = fields.schema
    this.dataType = fields.dataType
    this.hint = fields.hint
    this.sql = fields.sql
    Object.defineProperty(this, 'detail', { value: quoting?.detail, enumerable: false })
    Object.defineProperty(this, 'where', { value: quoting?.where, enumerable: false })
  }
}

/** The constructor arguments of the errors that name one SQLSTATE (their code is fixed). */
type ServerErrorArgs = [message: string, fields: ServerErrorFields, quoting?: QuotingServerFields]

/** Class 23: a constraint refused the change. */
export class IntegrityConstraintError extends DatabaseError {}
/** SQLSTATE 23505. Code `UNIQUE_VIOLATION`. */
export class UniqueViolationError extends IntegrityConstraintError {
  constructor(...a: ServerErrorArgs) {
    super('UNIQUE_VIOLATION', ...a)
  }
}
/** SQLSTATE 23503. Code `FOREIGN_KEY_VIOLATION`. */
export class ForeignKeyViolationError extends IntegrityConstraintError {
  constructor(...a: ServerErrorArgs) {
    super('FOREIGN_KEY_VIOLATION', ...a)
  }
}
/** SQLSTATE 23502. Code `NOT_NULL_VIOLATION`. */
export class NotNullViolationError extends IntegrityConstraintError {
  constructor(...a: ServerErrorArgs) {
    super('NOT_NULL_VIOLATION', ...a)
  }
}
/** SQLSTATE 23514. Code `CHECK_VIOLATION`. */
export class CheckViolationError extends IntegrityConstraintError {
  constructor(...a: ServerErrorArgs) {
    super('CHECK_VIOLATION', ...a)
  }
}
/** SQLSTATE 23P01. Code `EXCLUSION_VIOLATION`. */
export class ExclusionViolationError extends IntegrityConstraintError {
  constructor(...a: ServerErrorArgs) {
    super('EXCLUSION_VIOLATION', ...a)
  }
}
/** SQLSTATE 40001: retried automatically by `transaction` up to `retry.max`. Code `SERIALIZATION_FAILURE`. */
export class SerializationFailureError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('SERIALIZATION_FAILURE', ...a)
  }
}
/** SQLSTATE 40P01: retried automatically by `transaction` up to `retry.max`. Code `DEADLOCK_DETECTED`. */
export class DeadlockDetectedError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('DEADLOCK_DETECTED', ...a)
  }
}
/** SQLSTATE 55P03: NOWAIT or lock_timeout could not get a lock. Code `LOCK_NOT_AVAILABLE`. */
export class LockNotAvailableError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('LOCK_NOT_AVAILABLE', ...a)
  }
}
/** SQLSTATE 57014: statement_timeout, or a cancel request. Code `QUERY_CANCELED`. */
export class QueryCanceledError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('QUERY_CANCELED', ...a)
  }
}
/** SQLSTATE 25006: a write inside a read-only transaction, or on a standby. Code `READ_ONLY_TRANSACTION`. */
export class ReadOnlyTransactionError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('READ_ONLY_TRANSACTION', ...a)
  }
}
/** SQLSTATE 57P01/57P02/57P03: the server is shutting down or restarting. Code `ADMIN_SHUTDOWN`. */
export class AdminShutdownError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('ADMIN_SHUTDOWN', ...a)
  }
}
/** SQLSTATE class 08, or the socket closed under a statement: the connection is gone. Code `CONNECTION_LOST`. */
export class ConnectionLostError extends DatabaseError {
  constructor(...a: ServerErrorArgs) {
    super('CONNECTION_LOST', ...a)
  }
}

export type DatabaseErrorClass = new (...a: ServerErrorArgs) => DatabaseError
