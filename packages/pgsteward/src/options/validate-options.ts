/**
 * Validate `createDatabase` options and fill in defaults, before any connection is made. Every
 * problem is collected, type errors and contradictions alike, and each says what to change.
 */
import { ConfigError } from '../errors/error-classes.js'
import { resolveConnection } from './connection-settings.js'
import {
  POOL_DEFAULTS,
  RETRY_DEFAULTS,
  SLOW_STATEMENT_DEFAULT_MS,
  type DatabaseLogger,
  type DatabaseOptions,
  type PoolOptions,
  type ResolvedOptions,
  type RetryOptions,
} from './database-options.js'
import { checkSection, definedOnly, describeValue, isPlainObject, type Kind } from './option-checks.js'

const TOP_LEVEL: Record<keyof DatabaseOptions, Kind> = {
  connectionString: 'string',
  host: 'string',
  port: 'port',
  user: 'string',
  password: 'password',
  database: 'string',
  ssl: 'ssl',
  applicationName: 'string',
  serverSettings: 'string-map',
  statementTimeoutMs: 'ms',
  statementCacheSize: 'count',
  lockTimeoutMs: 'ms',
  idleInTransactionTimeoutMs: 'ms',
  cancelGraceMs: 'ms',
  keepAliveInitialDelayMs: 'ms',
  pipelining: 'boolean',
  pooler: 'pooler',
  callSites: 'call-sites',
  strict: 'boolean',
  logger: 'logger',
  slowStatementMs: 'ms',
  pool: 'object',
  retry: 'object',
  replicas: 'string-list',
  replicaPool: 'object',
  replicaWaitMs: 'ms',
}

const POOL_KEYS: Record<keyof PoolOptions, Kind> = {
  max: 'count',
  min: 'count',
  acquireTimeoutMs: 'ms',
  idleTimeoutMs: 'ms',
  maxLifetimeMs: 'ms',
  maxLifetimeJitter: 'fraction',
  validateAfterIdleMs: 'ms',
  leakDetectionMs: 'ms',
  connectTimeoutMs: 'ms',
}

export const RETRY_KEYS: Record<keyof RetryOptions, Kind> = { max: 'count', baseDelayMs: 'ms', maxDelayMs: 'ms' }

/** Names users coming from other pools reach for, mapped to ours. */
const FAMILIAR_NAMES: Record<string, string> = {
  idleTimeoutMillis: 'pool.idleTimeoutMs',
  connectionTimeoutMillis: 'pool.acquireTimeoutMs (waiting for a connection) or pool.connectTimeoutMs (opening one)',
  max: 'pool.max',
  min: 'pool.min',
  poolSize: 'pool.max',
  pool_size: 'pool.max',
  maxLifetimeSeconds: 'pool.maxLifetimeMs (in milliseconds)',
  statement_timeout: 'statementTimeoutMs',
  statementTimeout: 'statementTimeoutMs',
  application_name: 'applicationName',
  url: 'connectionString',
  databaseUrl: 'connectionString',
  options: "serverSettings (for example { search_path: 'app' })",
}

/** Problems of values that are each valid on their own but contradict one another. */
function contradictions(pool: Required<PoolOptions>, retry: Required<RetryOptions>, problems: string[]): void {
  const valid = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0
  if (valid(pool.max) && pool.max < 1) problems.push('pool.max must be at least 1.')
  if (valid(pool.min) && valid(pool.max) && pool.min > pool.max)
    problems.push(`pool.min (${pool.min}) is greater than pool.max (${pool.max}): lower min or raise max.`)
  if (valid(pool.acquireTimeoutMs) && pool.acquireTimeoutMs < 1)
    problems.push('pool.acquireTimeoutMs must be at least 1: every wait for a connection needs a limit.')
  if (valid(pool.connectTimeoutMs) && pool.connectTimeoutMs < 1) problems.push('pool.connectTimeoutMs must be at least 1: a connection attempt needs a limit.')
  if (valid(pool.maxLifetimeMs) && pool.maxLifetimeMs > 0 && pool.maxLifetimeMs < 1_000) {
    problems.push(`pool.maxLifetimeMs (${pool.maxLifetimeMs}) is under one second: connections would churn. Use at least 1000, or 0 to disable.`)
  }
  if (valid(pool.leakDetectionMs) && pool.leakDetectionMs > 0 && pool.leakDetectionMs < 10) {
    problems.push('pool.leakDetectionMs under 10 ms reports every borrower as a leak: use a value above your slowest expected hold, or 0 to disable.')
  }
  if (valid(retry.baseDelayMs) && valid(retry.maxDelayMs) && retry.baseDelayMs > retry.maxDelayMs) {
    problems.push(`retry.baseDelayMs (${retry.baseDelayMs}) is greater than retry.maxDelayMs (${retry.maxDelayMs}).`)
  }
}

/**
 * Validate options and fill in defaults. Throws `ConfigError` listing every problem. Reads
 * `DATABASE_URL` when no connection setting is given, and the `PG*` variables for what is missing.
 */
export function resolveOptions(input: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (input !== undefined && !isPlainObject(input)) {
    throw new ConfigError([`createDatabase expects an options object, got ${describeValue('', input)}.`])
  }
  const problems: string[] = []
  const options: Record<string, unknown> = input ?? {}
  checkSection(options, TOP_LEVEL, '', problems, FAMILIAR_NAMES)
  const poolInput = isPlainObject(options.pool) ? options.pool : {}
  const retryInput = isPlainObject(options.retry) ? options.retry : {}
  checkSection(poolInput, POOL_KEYS, 'pool.', problems)
  checkSection(retryInput, RETRY_KEYS, 'retry.', problems)
  const replicaPoolInput = isPlainObject(options.replicaPool) ? options.replicaPool : {}
  checkSection(replicaPoolInput, POOL_KEYS, 'replicaPool.', problems)
  const pool = { ...POOL_DEFAULTS, ...definedOnly(poolInput) } as Required<PoolOptions>
  const replicaPool = { ...pool, ...definedOnly(replicaPoolInput) } as Required<PoolOptions>
  const retry = { ...RETRY_DEFAULTS, ...definedOnly(retryInput) } as Required<RetryOptions>
  contradictions(pool, retry, problems)
  const logger =
    typeof options.logger === 'object' && options.logger !== null && typeof (options.logger as { warn?: unknown }).warn === 'function'
      ? (options.logger as DatabaseLogger)
      : undefined
  if (Number.isSafeInteger(options.slowStatementMs) && (options.slowStatementMs as number) > 0 && options.logger === undefined) {
    problems.push(
      'slowStatementMs needs a logger to log slow statements through: pass logger (pino, or any object with warn(object, message)), or remove slowStatementMs.',
    )
  }

  const num = (key: string, fallback: number): number => (Number.isSafeInteger(options[key]) ? (options[key] as number) : fallback)
  const str = (key: string): string | undefined => (typeof options[key] === 'string' ? options[key] : undefined)
  const pooler = options.pooler === 'transaction' ? 'transaction' : 'none'
  const statementTimeoutMs = num('statementTimeoutMs', 0)
  const lockTimeoutMs = num('lockTimeoutMs', 0)
  const idleInTransactionTimeoutMs = num('idleInTransactionTimeoutMs', 0)
  if (pooler === 'transaction') poolerSettingProblems(options, problems)
  // Everything but where the server is applies to the replicas too.
  const shared = {
    user: str('user'),
    password: typeof options.password === 'string' || typeof options.password === 'function' ? (options.password as () => string) : undefined,
    ssl: typeof options.ssl === 'boolean' || isPlainObject(options.ssl) ? options.ssl : undefined,
    applicationName: str('applicationName'),
    serverSettings: isPlainObject(options.serverSettings) ? (options.serverSettings as Record<string, string>) : undefined,
    statementTimeoutMs,
    lockTimeoutMs,
    idleInTransactionTimeoutMs,
    keepAliveInitialDelayMs: typeof options.keepAliveInitialDelayMs === 'number' ? options.keepAliveInitialDelayMs : undefined,
  }
  const connectTimeoutMs = (p: Required<PoolOptions>): number =>
    Number.isSafeInteger(p.connectTimeoutMs) ? p.connectTimeoutMs : POOL_DEFAULTS.connectTimeoutMs
  const connection = resolveConnection(
    {
      ...shared,
      connectionString: str('connectionString'),
      host: str('host'),
      port: typeof options.port === 'number' ? options.port : undefined,
      database: str('database'),
      connectTimeoutMs: connectTimeoutMs(pool),
    },
    env,
    problems,
  )
  const replicaStrings = Array.isArray(options.replicas) ? options.replicas.filter((r): r is string => typeof r === 'string') : []
  const replicas = replicaStrings.map((replica, i) => {
    const found: string[] = []
    const settings = resolveConnection({ ...shared, connectionString: replica, connectTimeoutMs: connectTimeoutMs(replicaPool) }, env, found)
    for (const problem of found) problems.push(`replicas[${i}]: ${problem}`)
    return settings
  })
  if (replicas.length === 0 && (options.replicaPool !== undefined || options.replicaWaitMs !== undefined)) {
    problems.push('replicaPool and replicaWaitMs apply to replicas, and no replicas are given: add replicas (connection strings of standbys) or remove them.')
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return {
    connection,
    applicationName: connection.applicationName,
    statementTimeoutMs,
    statementCacheSize: num('statementCacheSize', pooler === 'transaction' ? 0 : 100),
    lockTimeoutMs,
    idleInTransactionTimeoutMs,
    cancelGraceMs: num('cancelGraceMs', 1_000),
    pipelining: options.pipelining !== false,
    pooler,
    callSites: options.callSites === 'always' ? 'always' : 'after-first-error',
    strict: options.strict === true,
    logger,
    slowStatementMs: logger === undefined ? 0 : num('slowStatementMs', SLOW_STATEMENT_DEFAULT_MS),
    pool,
    retry,
    replicas,
    replicaPool,
    replicaWaitMs: num('replicaWaitMs', 0),
  }
}

/** Server settings sent when a connection opens, by option, with the server's name for each. */
const STARTUP_SETTINGS: readonly [option: string, setting: string][] = [
  ['statementTimeoutMs', 'statement_timeout'],
  ['lockTimeoutMs', 'lock_timeout'],
  ['idleInTransactionTimeoutMs', 'idle_in_transaction_session_timeout'],
]

/**
 * Behind a transaction-mode pooler the server connections are shared by every client of the
 * pooler, so settings sent when a connection opens cannot be this client's: PgBouncer refuses them
 * ("unsupported startup parameter"), and a pooler that ignored them would apply them nowhere.
 */
function poolerSettingProblems(options: Record<string, unknown>, problems: string[]): void {
  const where =
    "behind a transaction-mode pooler (pooler: 'transaction') the server connections are shared by all of the pooler's clients, and PgBouncer refuses settings sent at connect (\"unsupported startup parameter\")"
  for (const [option, setting] of STARTUP_SETTINGS) {
    if (typeof options[option] === 'number' && options[option] > 0) {
      problems.push(
        `${option} cannot be honoured: ${where}. Set it for the role on the server (ALTER ROLE ... SET ${setting} = '5s'), or give statements and scopes a timeoutMs, which cancels from the client; then remove ${option}.`,
      )
    }
  }
  if (isPlainObject(options.serverSettings) && Object.keys(options.serverSettings).length > 0) {
    problems.push(
      `serverSettings cannot be honoured: ${where}. Set them for the role or database on the server (ALTER ROLE ... SET ...), or with SET LOCAL inside each transaction; then remove serverSettings.`,
    )
  }
}
