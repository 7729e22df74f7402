/**
 * `import { Pool } from 'pgsteward/pg'`: pg.Pool's constructor and options, pgsteward underneath,
 * so migrating an application is a one-line import change. Options pg.Pool has and pgsteward does
 * not honour are rejected with a clear error, never silently ignored.
 */
import type { DatabaseOptions } from './config.js'
import { Database } from './database.js'
import { resolveOptions } from './config.js'
import { ConfigError } from './errors.js'
import { StewardPgPool } from './pg-pool-facade.js'

/** pg.Pool options with a pgsteward equivalent. */
export interface PgPoolOptions {
  connectionString?: string
  host?: string
  port?: number
  user?: string
  password?: string
  database?: string
  ssl?: boolean | Record<string, unknown>
  application_name?: string
  statement_timeout?: number
  lock_timeout?: number
  idle_in_transaction_session_timeout?: number
  keepAlive?: boolean
  max?: number
  min?: number
  idleTimeoutMillis?: number
  /** pg.Pool waits forever when 0; here 0 means the default acquire timeout (10 s), because every wait needs a limit. */
  connectionTimeoutMillis?: number
  maxLifetimeSeconds?: number
  /** pgsteward-only options, passed through (pool.leakDetectionMs, cancelGraceMs, strict, ...). */
  pgsteward?: Omit<DatabaseOptions, 'connectionString' | 'host' | 'port' | 'user' | 'password' | 'database' | 'ssl'>
}

/** pg.Pool options pgsteward does not honour, and what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  Client: 'a custom Client class is not supported: pgsteward manages its own node-postgres clients.',
  Promise: 'a custom Promise implementation is not supported: native promises are used.',
  log: 'pg-pool debug logging is not supported: subscribe to the pool events (db.on(...)) instead.',
  maxUses: 'maxUses is not supported: use maxLifetimeSeconds to recycle connections.',
  allowExitOnIdle: 'allowExitOnIdle is not needed: pgsteward never keeps the process alive with timers; call pool.end() to close idle sockets.',
  verify: 'verify is not supported: pgsteward validates idle connections itself (pgsteward.pool.validateAfterIdleMs).',
  query_timeout: 'query_timeout is not supported: use statement_timeout (server-side), or pgsteward sessions with timeoutMs.',
  types: 'custom type parsers per pool are not supported: register them with pg.types.setTypeParser.',
  stream: 'a custom stream factory is not supported.',
  onConnect: 'onConnect is not supported: listen to the "connect" event instead.',
}

const MAPPED = new Set([
  'connectionString', 'host', 'port', 'user', 'password', 'database', 'ssl', 'application_name', 'statement_timeout', 'lock_timeout',
  'idle_in_transaction_session_timeout', 'keepAlive', 'max', 'min', 'idleTimeoutMillis', 'connectionTimeoutMillis', 'maxLifetimeSeconds', 'pgsteward',
])

/** pg.Pool options that carry over unchanged but for their name. */
const RENAMED: [keyof PgPoolOptions, keyof DatabaseOptions][] = [
  ['connectionString', 'connectionString'],
  ['host', 'host'],
  ['port', 'port'],
  ['user', 'user'],
  ['password', 'password'],
  ['database', 'database'],
  ['ssl', 'ssl'],
  ['application_name', 'applicationName'],
  ['statement_timeout', 'statementTimeoutMs'],
  ['lock_timeout', 'lockTimeoutMs'],
  ['idle_in_transaction_session_timeout', 'idleInTransactionTimeoutMs'],
]

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
  const pool = { ...extra.pool }
  if (input.max !== undefined) pool.max = input.max
  if (input.min !== undefined) pool.min = input.min
  if (input.idleTimeoutMillis !== undefined) pool.idleTimeoutMs = input.idleTimeoutMillis
  if (input.connectionTimeoutMillis !== undefined && input.connectionTimeoutMillis > 0) pool.acquireTimeoutMs = input.connectionTimeoutMillis
  if (input.maxLifetimeSeconds !== undefined) pool.maxLifetimeMs = input.maxLifetimeSeconds * 1000
  const options: Record<string, unknown> = { ...extra, pool }
  for (const [from, to] of RENAMED) if (input[from] !== undefined) options[to] = input[from]
  return options
}

/**
 * A drop-in for `pg.Pool`.
 * @example
 * // before: import { Pool } from 'pg'
 * import { Pool } from 'pgsteward/pg'
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
 */
export class Pool extends StewardPgPool {
  /** The pgsteward database underneath, for sessions, transactions, health and stats. */
  readonly db: Database

  constructor(options?: PgPoolOptions) {
    const db = new Database(resolveOptions(fromPgPoolOptions(options)))
    super(db)
    this.db = db
  }
}

export type { StewardPgClient } from './pg-client-facade.js'
