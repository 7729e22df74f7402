/**
 * Options for `createDatabase`, their defaults, and the validation that runs before any
 * connection is made. Every problem is collected (not just the first) and each says what to change.
 */
import type { CallSiteMode } from './call-site.js'
import { ConfigError } from './errors.js'

/** Pool sizing and timing. */
export interface PoolOptions {
  /** Most connections the pool opens. (Default: 10) */
  max?: number
  /** Connections kept open even when idle; refilled in the background. (Default: 0) */
  min?: number
  /** Longest an acquire waits before `PoolTimeoutError`. (Default: 10000) */
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
  /** Longest a single connection attempt may take. (Default: 10000) */
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

/** Everything `createDatabase` accepts. Connection settings follow node-postgres and libpq. */
export interface DatabaseOptions {
  /** `postgres://user:pass@host:port/db?sslmode=...`. (Default: `DATABASE_URL`, then PG* variables) */
  connectionString?: string
  host?: string
  port?: number
  user?: string
  password?: string
  database?: string
  /** TLS options passed to node-postgres; `sslmode` in the URL works too. */
  ssl?: boolean | Record<string, unknown>
  /** Shown in `pg_stat_activity.application_name`. (Default: 'pgsteward') */
  applicationName?: string
  /** Server-side `statement_timeout` for every connection; 0 leaves the server's. (Default: 0) */
  statementTimeoutMs?: number
  /**
   * Parameterised statements each connection prepares once and then reuses, so the server parses
   * and plans them once (after five runs PostgreSQL may settle on a generic plan, as
   * `plan_cache_mode` decides). 0 sends every statement unnamed, as node-postgres does: needed
   * behind a pooler that cannot carry prepared statements (PgBouncer in transaction mode before 1.21).
   * (Default: 100)
   */
  statementCacheSize?: number
  /** Server-side `lock_timeout`; 0 leaves the server's. (Default: 0) */
  lockTimeoutMs?: number
  /** Server-side `idle_in_transaction_session_timeout`; 0 leaves the server's. (Default: 0) */
  idleInTransactionTimeoutMs?: number
  /** How long a cancelled query may take to stop before its connection is destroyed. (Default: 1000) */
  cancelGraceMs?: number
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
  pool?: PoolOptions
  /** Defaults for `transaction(fn, { retry })`. */
  retry?: RetryOptions
}

/** Options after defaults are applied and validation passed. */
export interface ResolvedOptions {
  connection: {
    connectionString: string | undefined
    host: string | undefined
    port: number | undefined
    user: string | undefined
    password: string | undefined
    database: string | undefined
    ssl: boolean | Record<string, unknown> | undefined
  }
  applicationName: string
  statementTimeoutMs: number
  statementCacheSize: number
  lockTimeoutMs: number
  idleInTransactionTimeoutMs: number
  cancelGraceMs: number
  callSites: CallSiteMode
  strict: boolean
  pool: Required<PoolOptions>
  retry: Required<RetryOptions>
}

export const POOL_DEFAULTS: Required<PoolOptions> = {
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

export const RETRY_DEFAULTS: Required<RetryOptions> = { max: 3, baseDelayMs: 10, maxDelayMs: 1_000 }

type Kind = 'string' | 'port' | 'count' | 'ms' | 'boolean' | 'fraction' | 'ssl' | 'object' | 'call-sites'

const TOP_LEVEL: Record<keyof DatabaseOptions, Kind> = {
  connectionString: 'string',
  host: 'string',
  port: 'port',
  user: 'string',
  password: 'string',
  database: 'string',
  ssl: 'ssl',
  applicationName: 'string',
  statementTimeoutMs: 'ms',
  statementCacheSize: 'count',
  lockTimeoutMs: 'ms',
  idleInTransactionTimeoutMs: 'ms',
  cancelGraceMs: 'ms',
  callSites: 'call-sites',
  strict: 'boolean',
  pool: 'object',
  retry: 'object',
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

const RETRY_KEYS: Record<keyof RetryOptions, Kind> = { max: 'count', baseDelayMs: 'ms', maxDelayMs: 'ms' }

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
  application_name: 'applicationName',
  url: 'connectionString',
  databaseUrl: 'connectionString',
}

const KIND_TEXT: Record<Kind, string> = {
  string: 'a string',
  port: 'an integer from 1 to 65535',
  count: 'a non-negative integer',
  ms: 'a non-negative integer number of milliseconds',
  boolean: 'true or false',
  fraction: 'a number from 0 to 0.5',
  ssl: 'a boolean or a TLS options object',
  object: 'an object',
  'call-sites': "'always' or 'after-first-error'",
}

function checkKind(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string'
    case 'port':
      return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535
    case 'count':
    case 'ms':
      return Number.isSafeInteger(value) && (value as number) >= 0
    case 'boolean':
      return typeof value === 'boolean'
    case 'fraction':
      return typeof value === 'number' && value >= 0 && value <= 0.5
    case 'ssl':
      return typeof value === 'boolean' || isPlainObject(value)
    case 'object':
      return isPlainObject(value)
    case 'call-sites':
      return value === 'always' || value === 'after-first-error'
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i)
  for (let i = 1; i <= x.length; i++) {
    const cur = [i]
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[y.length] ?? 0
}

function suggest(name: string, valid: readonly string[], prefix: string): string {
  const familiar = FAMILIAR_NAMES[name]
  if (familiar) return ` Did you mean ${familiar}?`
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of valid) {
    const d = editDistance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return ` Did you mean ${prefix}${best}?`
  return ` Valid options${prefix ? ` in ${prefix.slice(0, -1)}` : ''}: ${valid.join(', ')}.`
}

function checkSection(
  section: Record<string, unknown>,
  schema: Record<string, Kind>,
  prefix: string,
  problems: string[],
): void {
  const valid = Object.keys(schema)
  for (const [key, value] of Object.entries(section)) {
    const kind = schema[key]
    if (kind === undefined) {
      problems.push(`Unknown option ${prefix}${key}.${suggest(key, valid, prefix)}`)
      continue
    }
    if (value === undefined) continue
    if (!checkKind(kind, value)) {
      problems.push(`${prefix}${key} must be ${KIND_TEXT[kind]}, got ${describeValue(key, value)}.`)
    }
  }
}

function describeValue(key: string, value: unknown): string {
  if (key === 'password') return `a ${typeof value}`
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`
}

function checkConnectionString(url: string, problems: string[]): void {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    problems.push('connectionString is not a valid URL: write it as postgres://user:password@host:5432/database.')
    return
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:' && parsed.protocol !== 'socket:') {
    problems.push(`connectionString must start with postgres:// or postgresql://, got ${parsed.protocol}//.`)
  }
  const sslmode = parsed.searchParams.get('sslmode')
  const modes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify', 'allow']
  if (sslmode !== null && !modes.includes(sslmode)) {
    problems.push(`sslmode=${sslmode} in connectionString is not a libpq sslmode: use one of ${modes.join(', ')}.`)
  }
}

/**
 * Validate options and fill in defaults. Throws `ConfigError` listing every problem. Reads
 * `DATABASE_URL` when no connection setting is given; node-postgres reads the PG* variables.
 */
export function resolveOptions(input: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const problems: string[] = []
  if (input !== undefined && !isPlainObject(input)) {
    throw new ConfigError([`createDatabase expects an options object, got ${describeValue('', input)}.`])
  }
  const options: Record<string, unknown> = input ?? {}
  checkSection(options, TOP_LEVEL, '', problems)
  const poolInput = isPlainObject(options.pool) ? options.pool : {}
  const retryInput = isPlainObject(options.retry) ? options.retry : {}
  checkSection(poolInput, POOL_KEYS, 'pool.', problems)
  checkSection(retryInput, RETRY_KEYS, 'retry.', problems)

  const pool = { ...POOL_DEFAULTS, ...definedOnly(poolInput) } as Required<PoolOptions>
  const retry = { ...RETRY_DEFAULTS, ...definedOnly(retryInput) } as Required<RetryOptions>

  // Contradictions are only worth reporting once each value is individually valid.
  if (problems.length === 0) {
    if (pool.max < 1) problems.push('pool.max must be at least 1.')
    if (pool.min > pool.max) problems.push(`pool.min (${pool.min}) is greater than pool.max (${pool.max}): lower min or raise max.`)
    if (pool.acquireTimeoutMs < 1) {
      problems.push('pool.acquireTimeoutMs must be at least 1: every wait for a connection needs a limit.')
    }
    if (pool.connectTimeoutMs < 1) problems.push('pool.connectTimeoutMs must be at least 1: a connection attempt needs a limit.')
    if (pool.maxLifetimeMs > 0 && pool.idleTimeoutMs > 0 && pool.maxLifetimeMs < pool.idleTimeoutMs) {
      problems.push(
        `pool.maxLifetimeMs (${pool.maxLifetimeMs}) is shorter than pool.idleTimeoutMs (${pool.idleTimeoutMs}): connections would be retired before the idle timeout could apply. Raise maxLifetimeMs or lower idleTimeoutMs.`,
      )
    }
    if (pool.maxLifetimeMs > 0 && pool.maxLifetimeMs < 1_000) {
      problems.push(`pool.maxLifetimeMs (${pool.maxLifetimeMs}) is under one second: connections would churn. Use at least 1000, or 0 to disable.`)
    }
    if (pool.leakDetectionMs > 0 && pool.leakDetectionMs < 10) {
      problems.push('pool.leakDetectionMs under 10 ms reports every borrower as a leak: use a value above your slowest expected hold, or 0 to disable.')
    }
    if (retry.baseDelayMs > retry.maxDelayMs) {
      problems.push(`retry.baseDelayMs (${retry.baseDelayMs}) is greater than retry.maxDelayMs (${retry.maxDelayMs}).`)
    }
    if (typeof options.connectionString === 'string') {
      checkConnectionString(options.connectionString, problems)
      if (options.host !== undefined || options.port !== undefined || options.database !== undefined) {
        problems.push('Both connectionString and host/port/database are set: give the server in one place, either the URL or the separate fields.')
      }
    }
    if (typeof options.applicationName === 'string' && Buffer.byteLength(options.applicationName) > 63) {
      problems.push('applicationName is longer than 63 bytes: PostgreSQL would truncate it; shorten it.')
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)

  const explicit = ['connectionString', 'host', 'port', 'user', 'database'].some((k) => options[k] !== undefined)
  const fromEnv = !explicit && env.DATABASE_URL ? env.DATABASE_URL : undefined
  if (fromEnv !== undefined) {
    const envProblems: string[] = []
    checkConnectionString(fromEnv, envProblems)
    if (envProblems.length > 0) throw new ConfigError(envProblems.map((p) => p.replace('connectionString', 'DATABASE_URL')))
  }
  return {
    connection: {
      connectionString: (options.connectionString as string | undefined) ?? fromEnv,
      host: options.host as string | undefined,
      port: options.port as number | undefined,
      user: options.user as string | undefined,
      password: options.password as string | undefined,
      database: options.database as string | undefined,
      ssl: options.ssl as boolean | Record<string, unknown> | undefined,
    },
    applicationName: (options.applicationName as string | undefined) ?? 'pgsteward',
    statementTimeoutMs: (options.statementTimeoutMs as number | undefined) ?? 0,
    statementCacheSize: (options.statementCacheSize as number | undefined) ?? 100,
    lockTimeoutMs: (options.lockTimeoutMs as number | undefined) ?? 0,
    idleInTransactionTimeoutMs: (options.idleInTransactionTimeoutMs as number | undefined) ?? 0,
    cancelGraceMs: (options.cancelGraceMs as number | undefined) ?? 1_000,
    callSites: (options.callSites as CallSiteMode | undefined) ?? 'after-first-error',
    strict: (options.strict as boolean | undefined) ?? false,
    pool,
    retry,
  }
}

function definedOnly(section: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(section).filter(([, v]) => v !== undefined))
}
