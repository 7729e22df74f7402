/**
 * pg.Pool's constructor options translated into pgsteward's. Options pg.Pool has and pgsteward
 * does not honour are refused with what to use instead, never silently ignored.
 */
import { ConfigError } from '../errors/error-classes.js'
import type { DatabaseOptions, PoolOptions } from '../options/database-options.js'

/**
 * pg.Pool's options that have a pgsteward equivalent. Any other pg.Pool option is refused with a
 * `ConfigError` saying what to use instead, never silently ignored.
 * @example
 * ```ts
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20, pgsteward: { pool: { leakDetectionMs: 30_000 } } })
 * ```
 */
export interface PgPoolOptions {
  /** `postgres://user:pass@host:port/db?sslmode=...`. (Default: `DATABASE_URL` when no connection setting is given, then the `PG*` variables) */
  connectionString?: string
  /** Server host, a comma-separated list of hosts, or a Unix-socket directory. (Default: `PGHOST`, then 'localhost') */
  host?: string
  /** Server port. (Default: `PGPORT`, then 5432) */
  port?: number
  /** The role to log in as. (Default: `PGUSER`, then the operating-system user) */
  user?: string
  /** A password, or a function returning one (called for each new connection). (Default: `PGPASSWORD`) */
  password?: string | (() => string | Promise<string>)
  /** The database to open. (Default: `PGDATABASE`, then the user name) */
  database?: string
  /** TLS: `true`, or options for `tls.connect`. (Default: no TLS unless `sslmode` says otherwise) */
  ssl?: boolean | Record<string, unknown>
  /** Shown in `pg_stat_activity.application_name`. (Default: `PGAPPNAME`, then 'pgsteward') */
  application_name?: string
  /** Extra server options, as libpq's `options`: `-c search_path=app -c work_mem=64MB`. (Default: none) */
  options?: string
  /** Server-side `statement_timeout` in milliseconds; 0 leaves the server's. (Default: 0) */
  statement_timeout?: number
  /** Server-side `lock_timeout` in milliseconds; 0 leaves the server's. (Default: 0) */
  lock_timeout?: number
  /** Server-side `idle_in_transaction_session_timeout` in milliseconds; 0 leaves the server's. (Default: 0) */
  idle_in_transaction_session_timeout?: number
  /** TCP keep-alive; only `true` is accepted, since a dead peer must be noticed. (Default: true) */
  keepAlive?: boolean
  /** Idle time before keep-alive probes start; 0 leaves the system's. (Default: 0) */
  keepAliveInitialDelayMillis?: number
  /** Most connections the pool opens. (Default: 10) */
  max?: number
  /** pg-pool's older name for `max`, read when `max` is not given. (Default: none) */
  poolSize?: number
  /** Connections kept open even when idle. (Default: 0) */
  min?: number
  /** (Default: 10000, as pg.Pool) */
  idleTimeoutMillis?: number
  /**
   * Bounds both the wait for a connection and each attempt to open one, as in pg.Pool. pg.Pool
   * waits forever when 0; here 0 means the default acquire timeout (10 s), because every wait needs a limit. (Default: 10000)
   */
  connectionTimeoutMillis?: number
  /** pgsteward retires connections at max lifetime only when idle; the idle timeout is lowered to the lifetime when longer. (Default: 1800, where pg.Pool's is no limit) */
  maxLifetimeSeconds?: number
  /**
   * node-postgres 8.23's option: a client's queries go out without waiting for the previous
   * answer. Here it sets pgsteward's `pipelining`, which also lets one-shot queries of different
   * callers share a connection when every connection is busy. (Default: false, as pg.Pool)
   */
  pipeline?: boolean
  /** Accepted: pgsteward never keeps the process alive for idle connections or timers, which is what `true` asks for. (Default: true) */
  allowExitOnIdle?: boolean
  /** Result values in binary where node-postgres has a binary parser, as node-postgres's `binary` does. (Default: false) */
  binary?: boolean
  /** pgsteward-only options, passed through (pool.leakDetectionMs, cancelGraceMs, strict, ...). (Default: none) */
  pgsteward?: Omit<DatabaseOptions, 'connectionString' | 'host' | 'port' | 'user' | 'password' | 'database' | 'ssl'>
}

/** pg.Pool's default idle timeout. */
const PG_POOL_IDLE_TIMEOUT_MS = 10_000

/** pg.Pool options pgsteward does not honour, and what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  Client: 'a custom Client class is not supported: pgsteward speaks the protocol itself.',
  Promise: 'a custom Promise implementation is not supported: native promises are used.',
  log: 'pg-pool debug logging is not supported: subscribe to the pool events (pool.db.on(...)) instead.',
  maxUses: 'maxUses is not supported: use maxLifetimeSeconds to recycle connections.',
  verify: 'verify is not supported: pgsteward validates idle connections itself (pgsteward.pool.validateAfterIdleMs).',
  query_timeout: 'query_timeout is not supported: use statement_timeout (server-side), or db.query(..., { timeoutMs }) through pool.db.',
  types: 'custom type parsers per pool are not supported: register them with pg.types.setTypeParser, or pass `types` per query.',
  stream: 'a custom stream factory is not supported.',
  onConnect:
    'onConnect is not supported: pgsteward resets session state between borrowers, which would undo what it set. ' +
    'Give per-connection settings as options (\'-c search_path=app\') or pgsteward.serverSettings; listen to the "connect" event to observe new connections.',
  client_encoding: 'client_encoding is not supported: pgsteward speaks UTF8.',
  replication: 'replication connections are not supported.',
}

const MAPPED = new Set([
  'connectionString',
  'host',
  'port',
  'user',
  'password',
  'database',
  'ssl',
  'application_name',
  'options',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'keepAlive',
  'keepAliveInitialDelayMillis',
  'max',
  'min',
  'idleTimeoutMillis',
  'connectionTimeoutMillis',
  'maxLifetimeSeconds',
  'pipeline',
  'binary',
  'pgsteward',
  'poolSize',
  'allowExitOnIdle',
])

/** Translate pg.Pool options into pgsteward's, collecting every unsupported or unknown one. */
export function fromPgPoolOptions(input: PgPoolOptions = {}): DatabaseOptions {
  const problems: string[] = []
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue
    if (key in UNSUPPORTED) problems.push(`${key}: ${UNSUPPORTED[key]}`)
    else if (!MAPPED.has(key)) problems.push(`${key} is not a pg.Pool option pgsteward knows: remove it, or pass pgsteward's own options under "pgsteward".`)
  }
  if (input.keepAlive === false) problems.push('keepAlive: false is not supported: pgsteward always enables TCP keep-alive so dead peers are noticed.')
  if (input.allowExitOnIdle === false) {
    problems.push(
      'allowExitOnIdle: false is not supported: pgsteward never keeps the process alive for idle connections; call pool.end() when done, or remove the option.',
    )
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const extra = input.pgsteward ?? {}
  // pg.Pool's defaults where they differ from pgsteward's: a 10 s idle timeout, no pipelining.
  const pool: PoolOptions = { idleTimeoutMs: PG_POOL_IDLE_TIMEOUT_MS, ...extra.pool }
  const max = input.max ?? input.poolSize
  if (max !== undefined) pool.max = max
  if (input.min !== undefined) pool.min = input.min
  if (input.idleTimeoutMillis !== undefined) pool.idleTimeoutMs = input.idleTimeoutMillis
  if (input.connectionTimeoutMillis !== undefined && input.connectionTimeoutMillis > 0) {
    pool.acquireTimeoutMs = input.connectionTimeoutMillis
    pool.connectTimeoutMs = extra.pool?.connectTimeoutMs ?? input.connectionTimeoutMillis
  }
  if (input.maxLifetimeSeconds !== undefined) {
    pool.maxLifetimeMs = input.maxLifetimeSeconds * 1000
    // pg.Pool applies both; an idle timeout longer than the lifetime could never apply, so it is lowered to the lifetime.
    if (pool.maxLifetimeMs > 0 && typeof pool.idleTimeoutMs === 'number' && (pool.idleTimeoutMs === 0 || pool.idleTimeoutMs > pool.maxLifetimeMs)) {
      pool.idleTimeoutMs = pool.maxLifetimeMs
    }
  }
  const options: DatabaseOptions = { pipelining: false, ...extra, pool }
  if (input.connectionString !== undefined) options.connectionString = input.connectionString
  if (input.host !== undefined) options.host = input.host
  if (input.port !== undefined) options.port = input.port
  if (input.user !== undefined) options.user = input.user
  if (input.password !== undefined) options.password = input.password
  if (input.database !== undefined) options.database = input.database
  if (input.ssl !== undefined) options.ssl = input.ssl
  if (input.application_name !== undefined) options.applicationName = input.application_name
  if (input.statement_timeout !== undefined) options.statementTimeoutMs = input.statement_timeout
  if (input.lock_timeout !== undefined) options.lockTimeoutMs = input.lock_timeout
  if (input.idle_in_transaction_session_timeout !== undefined) options.idleInTransactionTimeoutMs = input.idle_in_transaction_session_timeout
  if (input.pipeline !== undefined) options.pipelining = input.pipeline
  if (input.keepAliveInitialDelayMillis !== undefined) options.keepAliveInitialDelayMs = input.keepAliveInitialDelayMillis
  if (input.options !== undefined) options.serverSettings = { ...extra.serverSettings, ...parseServerOptions(input.options, problems) }
  if (problems.length > 0) throw new ConfigError(problems)
  return options
}

/** libpq's `options` (`-c name=value` or `--name=value`, space separated) as server settings. */
function parseServerOptions(text: string, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  const tokens = text
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '')
  for (let i = 0; i < tokens.length; i++) {
    let token = tokens[i] as string
    if (token === '-c') token = tokens[++i] ?? ''
    else if (token.startsWith('-c')) token = token.slice(2)
    else if (token.startsWith('--')) token = token.slice(2)
    else {
      problems.push(`options: cannot read ${JSON.stringify(token)}: write settings as -c name=value.`)
      continue
    }
    const eq = token.indexOf('=')
    if (eq <= 0) {
      problems.push(`options: ${JSON.stringify(token)} is not name=value.`)
      continue
    }
    out[token.slice(0, eq).replaceAll('-', '_')] = token.slice(eq + 1)
  }
  return out
}
