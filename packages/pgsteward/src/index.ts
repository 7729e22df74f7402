/**
 * pgsteward: PostgreSQL for Node.js under concurrency, without leaks, lost updates, hangs or
 * surprises. Everything public is exported here; everything else is private.
 */
export { createDatabase, Database } from './database.js'
export { sql, SqlFragment, SqlIdentifier, UnsafeSql, type CompiledQuery } from './sql.js'
export { getOrCreate, updateVersioned, type GetOrCreateOptions, type VersionedUpdateOptions } from './race-free.js'
export type { DatabaseOptions, PoolOptions, RetryOptions } from './config.js'
export type { CallSiteMode } from './call-site.js'
export type { DatabaseEvents, DestroyReason, PoolCounters, PoolStats } from './pool.js'
export type { HealthReport } from './health.js'
export type { QueryResult, Row } from './query-result.js'
export type { IsolationLevel, Queryable, Session, SessionOptions, Statement, Transaction, TransactionOptions } from './scope.js'
export {
  PgStewardError,
  ConfigError,
  MisuseError,
  PoolTimeoutError,
  PoolClosedError,
  PoolDeadlockError,
  ConnectionError,
  ReleasedConnectionError,
  SessionClosedError,
  ConcurrentUseError,
  AbortedError,
  ScopeTimeoutError,
  AmbiguousCommitError,
  FailedTransactionError,
  StaleVersionError,
  NoRowsError,
  TooManyRowsError,
  DatabaseError,
  IntegrityConstraintError,
  UniqueViolationError,
  ForeignKeyViolationError,
  NotNullViolationError,
  CheckViolationError,
  ExclusionViolationError,
  SerializationFailureError,
  DeadlockDetectedError,
  LockNotAvailableError,
  QueryCanceledError,
  ReadOnlyTransactionError,
  AdminShutdownError,
  ConnectionLostError,
  type ServerErrorFields,
  type PoolStateSnapshot,
  type HolderInfo,
} from './errors.js'
