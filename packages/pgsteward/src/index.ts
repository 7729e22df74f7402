/**
 * pgsteward: PostgreSQL for Node.js under concurrency, without leaks, lost updates, hangs or
 * surprises. Everything public is exported here (and from `pgsteward/pg`, `pgsteward/metrics`,
 * `pgsteward/opentelemetry` and `pgsteward/dashboard`); everything else is private.
 * @packageDocumentation
 */
export { createDatabase } from './database.js'
export type { Database, PublicOptions, ReadOptions } from './database.js'
export type { ReadStats } from './replicas/read-router.js'
export { sql, SqlFragment, SqlIdentifier, UnsafeSql, type CompiledQuery, type SqlTag, type Statement } from './sql.js'
export { getOrCreate, updateVersioned, type GetOrCreateOptions, type VersionedUpdateOptions } from './race-free.js'
export type { DatabaseLogger, DatabaseOptions, PoolOptions, RetryOptions } from './options/database-options.js'
export type { PasswordSource, TargetSessionAttrs } from './options/connection-settings.js'
export type { CallSiteMode } from './scope/call-site.js'
export type { DatabaseEvents, DestroyReason, PoolCounters, PoolStats, QueryEvent } from './pool/pool-events.js'
export type { StatementScope } from './pool/instrumentation.js'
export type { HealthReport, ReplicaHealth } from './health.js'
export type { ListenOptions } from './listen/listener.js'
export type { QueryResult, Row } from './query-result.js'
export type { FieldDescription } from './wire/result-builder.js'
export type { IsolationLevel, Queryable, Session, SessionOptions, StatementOptions, Transaction, TransactionOptions } from './scope/scope-types.js'
export {
  PgStewardError,
  ConfigError,
  MisuseError,
  ParameterError,
  TooManyParametersError,
  NotificationPayloadError,
  WriteTokenError,
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
  type QuotingServerFields,
  type PoolStateSnapshot,
  type HolderInfo,
} from './errors/error-classes.js'
