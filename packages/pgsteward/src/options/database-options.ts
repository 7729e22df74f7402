/**
 * What `createDatabase` accepts, with each option's default. Validation lives in
 * validate-options.ts; connection settings are resolved in connection-settings.ts.
 */
import type { CallSiteMode } from '../scope/call-site.js'
import type { ConnectionSettings, PasswordSource } from './connection-settings.js'

/** Pool sizing and timing. */
export interface PoolOptions {
  /** Most connections the pool opens. (Default: 10) */
  max?: number
  /** Connections kept open even when idle; refilled in the background. (Default: 0) */
  min?: number
  /** Longest any wait for a connection may take (queueing, opening one, validating one) before `PoolTimeoutError`. (Default: 10000) */
  acquireTimeoutMs?: number
  /** An idle connection above `min` is closed after this long unused; 0 keeps them. (Default: 30000) */
  idleTimeoutMs?: number
  /** A connection is retired this long after it opened (never while lent); 0 disables. (Default: 1800000) */
  maxLifetimeMs?: number
  /** Fraction of `maxLifetimeMs` by which each connection retires early at random, so they do not all retire together. (Default: 0.1) */
  maxLifetimeJitter?: number
  /** A connection idle longer than this is checked with a round trip before it is lent. (Default: 1000) */
  validateAfterIdleMs?: number
  /** Emit 'leak' when a connection is held longer than this; 0 disables. (Default: 0) */
  leakDetectionMs?: number
  /** Longest a single connection attempt may take; with several hosts, each host gets this long, as libpq's `connect_timeout`. (Default: 10000) */
  connectTimeoutMs?: number
}

/** Options for the transaction retry loop. */
export interface RetryOptions {
  /** Re-runs after the first attempt on serialization failure, deadlock, or a cached statement its tables outgrew. (Default: 3) */
  max?: number
  /** First backoff; doubles each retry, with full jitter. (Default: 10) */
  baseDelayMs?: number
  /** Cap on one backoff. (Default: 1000) */
  maxDelayMs?: number
}

/**
 * Everything `createDatabase` accepts. Connection settings follow libpq: a `postgres://` URL
 * (several hosts allowed) or keyword form, its query parameters (`sslmode`,
 * `target_session_attrs`, `load_balance_hosts`, `application_name`, `options`, ...), and the
 * `PG*` environment variables for anything not given.
 * @example
 * const db = createDatabase({
 *   connectionString: 'postgres://app@db1:5432,db2:5432/app?target_session_attrs=read-write',
 *   pool: { max: 10, acquireTimeoutMs: 5_000 },
 * })
 */
export interface DatabaseOptions {
  /** `postgres://user:pass@host:port/db?sslmode=...`, or `host=... dbname=...`. (Default: `DATABASE_URL` when no connection setting is given, then the `PG*` variables) */
  connectionString?: string
  /** Server host, a comma-separated list of hosts, or a Unix-socket directory. (Default: `PGHOST`, then 'localhost') */
  host?: string
  /** Server port. (Default: `PGPORT`, then 5432) */
  port?: number
  /** (Default: `PGUSER`, then the operating-system user) */
  user?: string
  /** A password, or a function returning one (called for each new connection). (Default: `PGPASSWORD`) */
  password?: PasswordSource
  /** (Default: `PGDATABASE`, then the user name) */
  database?: string
  /** TLS as node-postgres takes it: `true`, or options for `tls.connect`. `sslmode` in the URL works too. (Default: no TLS unless sslmode says otherwise) */
  ssl?: boolean | Record<string, unknown>
  /** Shown in `pg_stat_activity.application_name`. (Default: `application_name` in the URL, then `PGAPPNAME`, then 'pgsteward') */
  applicationName?: string
  /** Server settings sent when each connection starts, e.g. `{ search_path: 'app,public' }`. (Default: none) */
  serverSettings?: Record<string, string>
  /** Server-side `statement_timeout` for every connection; 0 leaves the server's. (Default: 0) */
  statementTimeoutMs?: number
  /**
   * Parameterised statements each connection prepares once and then reuses, so the server parses
   * and plans them once (after five runs PostgreSQL may settle on a generic plan, as
   * `plan_cache_mode` decides). 0 sends every statement unnamed, as node-postgres does.
   * (Default: 100, or 0 with `pooler: 'transaction'`)
   */
  statementCacheSize?: number
  /** Server-side `lock_timeout`; 0 leaves the server's. (Default: 0) */
  lockTimeoutMs?: number
  /** Server-side `idle_in_transaction_session_timeout`; 0 leaves the server's. (Default: 0) */
  idleInTransactionTimeoutMs?: number
  /** How long a cancelled query may take to stop before its connection is destroyed. (Default: 1000) */
  cancelGraceMs?: number
  /** Idle time before TCP keep-alive probes start on each connection; 0 leaves the system's. (Default: `keepalives_idle` in the URL, else 0) */
  keepAliveInitialDelayMs?: number
  /**
   * Independent one-shot statements (`db.query` outside a scope, the facade's `pool.query`) share
   * a busy connection when others are waiting, each in its own implicit transaction, and the
   * statements of one scope issued together are sent without waiting for each other. Statements
   * with a `signal` or `timeoutMs`, and statements that may change session state, never share.
   * (Default: true)
   */
  pipelining?: boolean
  /**
   * What sits between pgsteward and PostgreSQL. `'transaction'`: a pooler in transaction mode
   * (PgBouncer, Supavisor, RDS Proxy): the statement cache is off unless you set
   * `statementCacheSize` (PgBouncer 1.21+ with `max_prepared_statements` carries prepared
   * statements), `db.session` is refused because consecutive statements may reach different
   * server connections, `db.listen` is refused (listen through a direct connection), the
   * server-capacity check is skipped, and settings sent at connect (`statementTimeoutMs`,
   * `lockTimeoutMs`, `idleInTransactionTimeoutMs`, `serverSettings`) are a `ConfigError`: the
   * server connections are shared, so set them for the role on the server. Cancellation
   * (`timeoutMs`, `signal`) works through the pooler. (Default: 'none')
   */
  pooler?: 'none' | 'transaction'
  /**
   * When sessions, transactions and checkouts record where they were opened, for the errors that
   * name a holder (`ConcurrentUseError`, `SessionClosedError`, `PoolDeadlockError`, and the holders
   * listed by `PoolTimeoutError`). Recording costs several microseconds per scope. With
   * 'after-first-error' nothing is recorded until the first of those errors, and everything after
   * it; 'always' records from the start. Leak detection (`pool.leakDetectionMs`) always records.
   * (Default: 'after-first-error')
   */
  callSites?: CallSiteMode
  /** Turn start-up warnings (pool larger than the server can serve) into errors. (Default: false) */
  strict?: boolean
  /**
   * Where pgsteward logs: a pino-compatible logger, i.e. anything with `warn(object, message)`
   * (pino, a pino child, or a small adapter over another logger). Used for slow statements.
   * (Default: none: nothing is logged)
   * @example
   * ```ts
   * import pino from 'pino'
   * const db = createDatabase({ connectionString, logger: pino(), slowStatementMs: 500 })
   * // {"level":40,"sql":"SELECT * FROM orders WHERE user_id = $1","durationMs":812.4,...,"msg":"slow statement"}
   * ```
   */
  logger?: DatabaseLogger
  /**
   * Statements that take at least this long are logged through `logger.warn` with their SQL
   * text, never parameter values (text without `$n` parameters has its literals replaced with
   * `?`), duration, rows, error class, scope and connection. Timed from the call to the answer,
   * so a wait for a connection counts. 0 turns it off; it needs `logger`.
   * (Default: 1000 when `logger` is given)
   * @example
   * ```ts
   * createDatabase({ connectionString, logger: pino(), slowStatementMs: 250 })
   * ```
   */
  slowStatementMs?: number
  /** Pool sizing and timing. (Default: each field's own, see {@link PoolOptions}) */
  pool?: PoolOptions
  /**
   * Standbys that `db.read` runs on, each a connection string (URL or keyword form; several hosts
   * and `load_balance_hosts=random` allowed) with a pool of its own. The other options (user,
   * password, ssl, timeouts, ...) apply to them as to the primary, which stays the server of
   * `connectionString`. A read runs on a standby only once it has replayed the caller's writes
   * (read-your-writes); otherwise, or when no standby answers, on the primary. (Default: none:
   * `db.read` runs on the primary)
   * @example
   * ```ts
   * const db = createDatabase({
   *   connectionString: 'postgres://app@primary:5432/app',
   *   replicas: ['postgres://app@standby1:5432/app', 'postgres://app@standby2:5432/app'],
   *   replicaPool: { max: 20 },
   * })
   * ```
   */
  replicas?: string[]
  /** Sizing and timing of each replica's pool; fields not given are the `pool` options'. (Default: the `pool` options) */
  replicaPool?: PoolOptions
  /**
   * How long `db.read` may wait for a standby to replay the writes it must see before it reads
   * from the primary instead; 0 reads from the primary at once. (Default: 0)
   */
  replicaWaitMs?: number
  /** Defaults for `transaction(fn, { retry })`. (Default: each field's own, see {@link RetryOptions}) */
  retry?: RetryOptions
}

/**
 * A pino-compatible logger: pgsteward calls `warn(object, message)` only. pino's loggers fit as
 * they are; wrap others in an object with that method.
 * @example
 * ```ts
 * const logger: DatabaseLogger = { warn: (obj, msg) => console.warn(msg, obj) }
 * ```
 */
export interface DatabaseLogger {
  /**
   * A warning: `obj` holds the fields, `msg` the message (pino's argument order). pgsteward calls
   * it; users implement it, or pass pino.
   * @example
   * ```ts
   * const logger: DatabaseLogger = { warn: (obj, msg) => console.warn(msg, obj) }
   * ```
   */
  warn(obj: Record<string, unknown>, msg: string): void
}

/** Options after defaults are applied and validation passed. */
export interface ResolvedOptions {
  connection: ConnectionSettings
  applicationName: string
  statementTimeoutMs: number
  statementCacheSize: number
  lockTimeoutMs: number
  idleInTransactionTimeoutMs: number
  cancelGraceMs: number
  pipelining: boolean
  pooler: 'none' | 'transaction'
  callSites: CallSiteMode
  strict: boolean
  logger: DatabaseLogger | undefined
  /** 0 when off (no logger, or turned off). */
  slowStatementMs: number
  pool: Required<PoolOptions>
  retry: Required<RetryOptions>
  /** Where each replica is; empty without replicas. */
  replicas: readonly ConnectionSettings[]
  replicaPool: Required<PoolOptions>
  replicaWaitMs: number
}

export const POOL_DEFAULTS: Readonly<Required<PoolOptions>> = {
  max: 10,
  min: 0,
  acquireTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxLifetimeMs: 1_800_000,
  maxLifetimeJitter: 0.1,
  validateAfterIdleMs: 1_000,
  leakDetectionMs: 0,
  connectTimeoutMs: 10_000,
}

/** `slowStatementMs` when a logger is given and the option is not. */
export const SLOW_STATEMENT_DEFAULT_MS = 1_000

export const RETRY_DEFAULTS: Readonly<Required<RetryOptions>> = { max: 3, baseDelayMs: 10, maxDelayMs: 1_000 }
