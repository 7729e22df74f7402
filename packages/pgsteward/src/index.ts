/**
 * pgsteward: PostgreSQL for Node.js under concurrency, without leaks, lost updates, hangs or
 * surprises. Everything public is exported here; everything else is private.
 */
export { createDatabase, Database } from './database.ts'
export { sql, SqlFragment, SqlIdentifier, UnsafeSql, type CompiledQuery } from './sql.ts'
export { getOrCreate, updateVersioned, type GetOrCreateOptions, type VersionedUpdateOptions } from './race-free.ts'
export type { DatabaseOptions, PoolOptions, RetryOptions } from './config.ts'
export type { CallSiteMode } from './call-site.ts'
export type { DatabaseEvents, DestroyReason, PoolCounters, PoolStats } from './pool.ts'
export type { HealthReport } from './health.ts'
export type { QueryResult, Row } from './query-result.ts'
export type { IsolationLevel, Queryable, Session, SessionOptions, Statement, Transaction, TransactionOptions } from './scope.ts'
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
} from './errors.ts'
