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
  /** Connections kept open even when idle. (Default: 0) */
  min?: number
  /** An idle connection above `min` is closed after this long unused; 0 keeps them. (Default: 30000) */
  idleTimeoutMillis?: number
  /** pg.Pool waits forever when 0; here 0 means the default acquire timeout (10 s), because every wait needs a limit. (Default: 10000) */
  connectionTimeoutMillis?: number
  /** pgsteward retires connections at max lifetime only when idle; an idle timeout longer than the lifetime never applies. (Default: 1800, where pg.Pool's is no limit) */
  maxLifetimeSeconds?: number
  /** Sets pgsteward's `pipelining` (node-postgres 8.23's option pipelines one client's queries; pgsteward pipelines by default). (Default: true) */
  pipeline?: boolean
  /** Result values in binary where node-postgres has a binary parser, as node-postgres's `binary` does. (Default: false) */
  binary?: boolean
  /** pgsteward-only options, passed through (pool.leakDetectionMs, cancelGraceMs, strict, ...). (Default: none) */
  pgsteward?: Omit<DatabaseOptions, 'connectionString' | 'host' | 'port' | 'user' | 'password' | 'database' | 'ssl'>
}

/** pg.Pool options pgsteward does not honour, and what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  Client: 'a custom Client class is not supported: pgsteward speaks the protocol itself.',
  Promise: 'a custom Promise implementation is not supported: native promises are used.',
  log: 'pg-pool debug logging is not supported: subscribe to the pool events (pool.db.on(...)) instead.',
  maxUses: 'maxUses is not supported: use maxLifetimeSeconds to recycle connections.',
  allowExitOnIdle: 'allowExitOnIdle is not needed: pgsteward never keeps the process alive with idle connections or timers; call pool.end() to close the sockets.',
  verify: 'verify is not supported: pgsteward validates idle connections itself (pgsteward.pool.validateAfterIdleMs).',
  query_timeout: 'query_timeout is not supported: use statement_timeout (server-side), or db.query(..., { timeoutMs }) through pool.db.',
  types: 'custom type parsers per pool are not supported: register them with pg.types.setTypeParser, or pass `types` per query.',
  stream: 'a custom stream factory is not supported.',
  onConnect: 'onConnect is not supported: listen to the "connect" event instead.',
  poolSize: 'poolSize is not a pg.Pool option: use max.',
  client_encoding: 'client_encoding is not supported: pgsteward speaks UTF8.',
  replication: 'replication connections are not supported.',
}

const MAPPED = new Set([
  'connectionString', 'host', 'port', 'user', 'password', 'database', 'ssl', 'application_name', 'options', 'statement_timeout', 'lock_timeout',
  'idle_in_transaction_session_timeout', 'keepAlive', 'keepAliveInitialDelayMillis', 'max', 'min', 'idleTimeoutMillis', 'connectionTimeoutMillis',
  'maxLifetimeSeconds', 'pipeline', 'binary', 'pgsteward',
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
  if (problems.length > 0) throw new ConfigError(problems)
  const extra = input.pgsteward ?? {}
  const pool: PoolOptions = { ...extra.pool }
  if (input.max !== undefined) pool.max = input.max
  if (input.min !== undefined) pool.min = input.min
  if (input.idleTimeoutMillis !== undefined) pool.idleTimeoutMs = input.idleTimeoutMillis
  if (input.connectionTimeoutMillis !== undefined && input.connectionTimeoutMillis > 0) pool.acquireTimeoutMs = input.connectionTimeoutMillis
  if (input.maxLifetimeSeconds !== undefined) pool.maxLifetimeMs = input.maxLifetimeSeconds * 1000
  const options: DatabaseOptions = { ...extra, pool }
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
  const tokens = text.trim().split(/\s+/).filter((t) => t !== '')
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
