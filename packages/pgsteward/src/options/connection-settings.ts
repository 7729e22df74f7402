/**
 * Where and how to connect, resolved once at start-up from, in order of precedence: the explicit
 * options, the connection string (or `DATABASE_URL`), libpq's environment variables (`PGHOST`,
 * `PGSSLMODE`, `PGAPPNAME`, ...) and the defaults. Every libpq keyword pgsteward does not honour
 * is refused with a problem that says so, never ignored; every problem is collected.
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { ConninfoSyntaxError, parseConninfo, type Conninfo } from './conninfo.js'

/** One server address; a host starting with `/` is a Unix-socket directory. */
export interface HostAddress {
  host: string
  port: number
}

/** libpq's `target_session_attrs`: which kind of server a connection must reach. */
export type TargetSessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby'

/** libpq's sslmode, plus node-postgres's `no-verify` (TLS without certificate checks). */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full' | 'no-verify'

/** How TLS is negotiated: whether it is tried, whether it is required, and the options for `tls.connect`. */
export interface TlsPolicy {
  /** disable: never; allow: only if the server refuses plain; prefer: first, plain if the server has no TLS; require: always. */
  attempt: 'disable' | 'allow' | 'prefer' | 'require'
  options: TlsOptions
}

/** A password, or a function that supplies one for each new connection (for rotating credentials). */
export type PasswordSource = string | (() => string | Promise<string>)

export interface ConnectionSettings {
  hosts: readonly HostAddress[]
  user: string
  database: string
  applicationName: string
  /** Sent in the startup packet: application_name, options, and server settings such as statement_timeout. */
  startupParameters: Readonly<Record<string, string>>
  tls: TlsPolicy
  connectTimeoutMs: number
  targetSessionAttrs: TargetSessionAttrs
  loadBalanceHosts: boolean
  keepAliveInitialDelayMs: number
  /** The password for the next connection; reading it never exposes it in an enumerable field. */
  password(): Promise<string | undefined>
  /** The password as given (text or function), for a node-postgres client built from these settings (the facade's `options`). */
  passwordSource(): PasswordSource | undefined
  /** Where the connection goes, for messages: `host:port[,host:port] user@database`, never the password. */
  describe(): string
}

/** The parts of `DatabaseOptions` this module reads. */
export interface ConnectionInput {
  connectionString?: string | undefined
  host?: string | undefined
  port?: number | undefined
  user?: string | undefined
  password?: PasswordSource | undefined
  database?: string | undefined
  ssl?: boolean | Record<string, unknown> | undefined
  applicationName?: string | undefined
  serverSettings?: Record<string, string> | undefined
  statementTimeoutMs: number
  lockTimeoutMs: number
  idleInTransactionTimeoutMs: number
  connectTimeoutMs: number
  keepAliveInitialDelayMs?: number | undefined
}

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']
const TARGETS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby']

/** libpq keywords pgsteward honours. */
const HONOURED = new Set([
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'application_name',
  'fallback_application_name',
  'options',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'connect_timeout',
  'target_session_attrs',
  'load_balance_hosts',
  'keepalives',
  'keepalives_idle',
  'client_encoding',
  'sslnegotiation',
  'ssl',
])

/** Keywords other drivers accept that have a pgsteward option instead. */
const USE_INSTEAD: Record<string, string> = {
  statement_timeout: 'use the statementTimeoutMs option',
  lock_timeout: 'use the lockTimeoutMs option',
  idle_in_transaction_session_timeout: 'use the idleInTransactionTimeoutMs option',
  sslpassword: 'decrypt the key yourself and pass it in the ssl option ({ key })',
  passfile: 'pass the password (or a function returning it) in the password option',
  hostaddr: 'give the address as host',
  gssencmode: 'GSSAPI encryption is not supported; use sslmode',
  replication: 'replication connections are not supported',
  channel_binding: 'SCRAM channel binding is not configurable here',
}

/** libpq environment variables, by keyword. */
const ENV: Record<string, string> = {
  host: 'PGHOST',
  port: 'PGPORT',
  dbname: 'PGDATABASE',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  load_balance_hosts: 'PGLOADBALANCEHOSTS',
  client_encoding: 'PGCLIENTENCODING',
  sslnegotiation: 'PGSSLNEGOTIATION',
}

function defaultUser(): string {
  try {
    return os.userInfo().username
  } catch {
    return 'postgres'
  }
}

/** Resolve the connection, appending each problem found to `problems`. */
export function resolveConnection(input: ConnectionInput, env: NodeJS.ProcessEnv, problems: string[]): ConnectionSettings {
  const explicitServer = [input.connectionString, input.host, input.port, input.user, input.database, input.password].some((v) => v !== undefined)
  const urlText = input.connectionString ?? (explicitServer ? undefined : env.DATABASE_URL)
  const urlName = input.connectionString !== undefined ? 'connectionString' : 'DATABASE_URL'
  let info: Conninfo = new Map()
  if (urlText !== undefined) {
    try {
      info = parseConninfo(urlText)
    } catch (err) {
      if (!(err instanceof ConninfoSyntaxError)) throw err
      problems.push(
        `${urlName} ${err.message}: write it as postgres://user:password@host:5432/database (several hosts: postgres://user@h1:5432,h2:5432/database).`,
      )
    }
    for (const key of info.keys()) {
      if (HONOURED.has(key)) continue
      const instead = USE_INSTEAD[key]
      problems.push(`${key} in ${urlName} is not supported by pgsteward: ${instead ?? 'remove it'}.`)
    }
    if (input.connectionString !== undefined && (input.host !== undefined || input.port !== undefined || input.database !== undefined)) {
      problems.push('Both connectionString and host/port/database are set: give the server in one place, either the URL or the separate fields.')
    }
  }
  const envValue = (key: string): string | undefined => {
    const name = ENV[key]
    const value = name === undefined ? undefined : env[name]
    return value === '' ? undefined : value
  }
  /** Explicit option, then connection string, then environment: libpq's order. */
  const pick = (key: string, explicit: string | undefined): { value: string | undefined; from: string } => {
    if (explicit !== undefined) return { value: explicit, from: key }
    const fromUrl = info.get(key)
    if (fromUrl !== undefined) return { value: fromUrl, from: `${key} in ${urlName}` }
    const fromEnv = envValue(key)
    return { value: fromEnv, from: ENV[key] ?? key }
  }

  const hosts = resolveHosts(pick('host', input.host), pick('port', input.port === undefined ? undefined : String(input.port)), problems)
  const user = pick('user', input.user).value ?? defaultUser()
  const database = pick('dbname', input.database).value ?? user
  const applicationName = pick('application_name', input.applicationName).value ?? info.get('fallback_application_name') ?? 'pgsteward'
  if (Buffer.byteLength(applicationName) > 63) problems.push('applicationName is longer than 63 bytes: PostgreSQL would truncate it; shorten it.')

  const startupParameters: Record<string, string> = { application_name: applicationName, client_encoding: 'UTF8' }
  const options = pick('options', undefined).value
  if (options !== undefined) startupParameters.options = options
  if (input.statementTimeoutMs > 0) startupParameters.statement_timeout = String(input.statementTimeoutMs)
  if (input.lockTimeoutMs > 0) startupParameters.lock_timeout = String(input.lockTimeoutMs)
  if (input.idleInTransactionTimeoutMs > 0) startupParameters.idle_in_transaction_session_timeout = String(input.idleInTransactionTimeoutMs)
  for (const [name, value] of Object.entries(input.serverSettings ?? {})) {
    if (!/^[a-z_][a-z0-9_.]*$/i.test(name)) problems.push(`serverSettings.${name} is not a PostgreSQL setting name.`)
    else if (typeof value !== 'string') problems.push(`serverSettings.${name} must be a string, got a ${typeof value}.`)
    else startupParameters[name] = value
  }

  const encoding = pick('client_encoding', undefined)
  if (encoding.value !== undefined && !/^utf-?8$/i.test(encoding.value)) {
    problems.push(`${encoding.from}=${encoding.value}: pgsteward speaks UTF8 only; remove the setting.`)
  }
  const negotiation = pick('sslnegotiation', undefined)
  if (negotiation.value !== undefined && negotiation.value !== 'postgres') {
    problems.push(`${negotiation.from}=${negotiation.value}: only sslnegotiation=postgres is supported.`)
  }

  const tls = resolveTls(input.ssl, pick, info, problems)
  const targetSessionAttrs = oneOf(pick('target_session_attrs', undefined), TARGETS, 'any', problems)
  const loadBalance = oneOf(pick('load_balance_hosts', undefined), ['disable', 'random'] as const, 'disable', problems)
  const connectTimeout = pick('connect_timeout', undefined)
  let connectTimeoutMs = input.connectTimeoutMs
  if (connectTimeout.value !== undefined) {
    const seconds = Number(connectTimeout.value)
    if (!Number.isInteger(seconds) || seconds < 0) problems.push(`${connectTimeout.from}=${connectTimeout.value} must be a whole number of seconds.`)
    else if (seconds > 0) connectTimeoutMs = Math.max(2, seconds) * 1000 // libpq treats 1 as 2
  }
  const keepalives = pick('keepalives', undefined)
  if (keepalives.value !== undefined && keepalives.value !== '1') {
    problems.push(`${keepalives.from}=${keepalives.value}: pgsteward always enables TCP keep-alive so dead peers are noticed; remove the setting.`)
  }
  const idle = pick('keepalives_idle', undefined)
  let keepAliveInitialDelayMs = input.keepAliveInitialDelayMs ?? 0
  if (idle.value !== undefined) {
    const seconds = Number(idle.value)
    if (!Number.isInteger(seconds) || seconds < 0) problems.push(`${idle.from}=${idle.value} must be a whole number of seconds.`)
    else if (input.keepAliveInitialDelayMs === undefined) keepAliveInitialDelayMs = seconds * 1000
  }

  const password = input.password ?? pick('password', undefined).value
  const described = `${hosts.map((h) => (h.host.startsWith('/') ? `${h.host}/.s.PGSQL.${h.port}` : `${h.host}:${h.port}`)).join(',')} as ${user} to database ${database}`
  return {
    hosts,
    user,
    database,
    applicationName,
    startupParameters,
    tls,
    connectTimeoutMs,
    targetSessionAttrs,
    loadBalanceHosts: loadBalance === 'random',
    keepAliveInitialDelayMs,
    password: async () => (typeof password === 'function' ? await password() : password),
    passwordSource: () => password,
    describe: () => described,
  }
}

function oneOf<T extends string>(picked: { value: string | undefined; from: string }, allowed: readonly T[], fallback: T, problems: string[]): T {
  if (picked.value === undefined) return fallback
  if ((allowed as readonly string[]).includes(picked.value)) return picked.value as T
  problems.push(`${picked.from}=${picked.value} is not valid: use one of ${allowed.join(', ')}.`)
  return fallback
}

function resolveHosts(host: { value: string | undefined; from: string }, port: { value: string | undefined; from: string }, problems: string[]): HostAddress[] {
  const hostList = (host.value ?? 'localhost').split(',').map((h) => h.trim())
  const portList = (port.value ?? '5432').split(',').map((p) => p.trim())
  if (portList.length !== 1 && portList.length !== hostList.length) {
    problems.push(`${port.from} lists ${portList.length} ports for ${hostList.length} hosts: give one port, or one per host.`)
    return [{ host: hostList[0] || 'localhost', port: 5432 }]
  }
  return hostList.map((h, i) => {
    const text = (portList.length === 1 ? portList[0] : portList[i]) || '5432'
    const n = Number(text)
    if (!Number.isInteger(n) || n < 1 || n > 65535) problems.push(`${port.from} must be an integer from 1 to 65535, got ${JSON.stringify(text)}.`)
    return { host: h === '' ? 'localhost' : h, port: Number.isInteger(n) ? n : 5432 }
  })
}

function readPem(picked: { value: string | undefined; from: string }, problems: string[]): string | undefined {
  if (picked.value === undefined || picked.value === 'system') return undefined
  try {
    return readFileSync(picked.value, 'utf8')
  } catch (err) {
    problems.push(`${picked.from}=${picked.value} cannot be read: ${(err as Error).message}.`)
    return undefined
  }
}

function resolveTls(
  ssl: boolean | Record<string, unknown> | undefined,
  pick: (key: string, explicit: string | undefined) => { value: string | undefined; from: string },
  info: Conninfo,
  problems: string[],
): TlsPolicy {
  // node-postgres's own option: `ssl: true` or TLS options, certificate checks on as Node's default.
  if (ssl === false) return { attempt: 'disable', options: {} }
  if (ssl === true) return { attempt: 'require', options: {} }
  if (ssl !== undefined) return { attempt: 'require', options: ssl }
  const picked = pick('sslmode', undefined)
  const legacy = info.get('ssl')
  // Without sslmode, no TLS, as node-postgres does (libpq's default is prefer): code moving from pg keeps its behaviour.
  let mode: SslMode = legacy === 'true' || legacy === '1' ? 'require' : 'disable'
  if (picked.value !== undefined) {
    if ((SSL_MODES as readonly string[]).includes(picked.value)) mode = picked.value as SslMode
    else problems.push(`sslmode=${picked.value} (${picked.from}) is not a libpq sslmode: use one of ${SSL_MODES.join(', ')}.`)
  }
  const ca = readPem(pick('sslrootcert', undefined), problems)
  const cert = readPem(pick('sslcert', undefined), problems)
  const key = readPem(pick('sslkey', undefined), problems)
  const options: TlsOptions = {}
  if (ca !== undefined) options.ca = ca
  if (cert !== undefined) options.cert = cert
  // The private key stays out of anything that enumerates the options (logs, inspect).
  if (key !== undefined) Object.defineProperty(options, 'key', { value: key, enumerable: false, writable: true })
  const verifyChainOnly = (): undefined => undefined
  switch (mode) {
    case 'disable':
      return { attempt: 'disable', options }
    case 'allow':
    case 'prefer':
      options.rejectUnauthorized = false
      return { attempt: mode, options }
    case 'require':
    case 'no-verify':
      // libpq: with a root certificate given, require verifies the chain as verify-ca does.
      if (ca !== undefined && mode === 'require') options.checkServerIdentity = verifyChainOnly
      else options.rejectUnauthorized = false
      return { attempt: 'require', options }
    case 'verify-ca':
      options.checkServerIdentity = verifyChainOnly
      return { attempt: 'require', options }
    case 'verify-full':
      return { attempt: 'require', options }
  }
}
