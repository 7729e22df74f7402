/**
 * The service's configuration, from the environment, validated once at start-up. Every problem
 * is reported together with what to set; in production, missing secrets stop the start.
 */
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Env = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATA_DIR: Type.String({ minLength: 1, default: './.data' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  SERVICE_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  MAX_UPLOAD_BYTES: Type.Integer({ minimum: 1, maximum: 100 * 1024 * 1024, default: 5 * 1024 * 1024 }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 500, default: 10 }),
  /** Members of this group (as the identity provider sends it at login) may create live events. */
  TEACHER_GROUP: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$', default: 'teachers' }),
  /** Members of this group (or of TEACHER_GROUP) may watch the live pool dashboard. */
  OPERATOR_GROUP: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$', default: 'operators' }),
  /** The identity provider whose ID tokens POST /auth/token exchanges (required in production). */
  OIDC_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  OIDC_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  OIDC_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  OIDC_JWKS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  OIDC_USERNAME_CLAIM: Type.String({ minLength: 1, default: 'preferred_username' }),
  OIDC_GROUPS_CLAIM: Type.String({ minLength: 1, default: 'groups' }),
  /** How long in-flight requests may take to finish at shutdown before they are answered 503. */
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
  /** Per WebSocket: messages a second it may send on average, and in a burst. */
  LIVE_MESSAGES_PER_SECOND: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10 }),
  LIVE_MESSAGE_BURST: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  /** How long files a write replaced stay on disk for readers still holding the old version. */
  REPLACED_FILES_GRACE_SECONDS: Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, default: 300 }),
})

export interface Config {
  env: 'development' | 'production' | 'test'
  port: number
  host: string
  dataDir: string
  databaseUrl: string | undefined
  jwtSecret: string
  serviceSecret: string
  logLevel: Static<typeof Env>['LOG_LEVEL']
  maxUploadBytes: number
  dbPoolMax: number
  teacherGroup: string
  /** Members of this group, and teachers, may watch the live pool dashboard. */
  operatorGroup: string
  /** Production sign-in: ID tokens of this provider are exchanged for our tokens; undefined: not configured. */
  oidc: OidcConfig | undefined
  shutdownGraceMs: number
  liveMessagesPerSecond: number
  liveMessageBurst: number
  replacedFilesGraceMs: number
  /** Secrets generated for this run because none were set (development only). */
  generatedSecrets: string[]
}

export interface OidcConfig {
  issuer: string
  audience: string
  jwks: { url: URL } | { file: string }
  /** Claim holding the user name, a dotted path for nested claims (e.g. `preferred_username`). */
  usernameClaim: string
  /** Claim holding the list of group names (e.g. `groups`, or `realm_access.roles`). */
  groupsClaim: string
}

export class ConfigurationError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`The classroom service cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.problems = problems
  }
}

const NUMERIC = new Set([
  'PORT',
  'MAX_UPLOAD_BYTES',
  'DB_POOL_MAX',
  'SHUTDOWN_GRACE_MS',
  'LIVE_MESSAGES_PER_SECOND',
  'LIVE_MESSAGE_BURST',
  'REPLACED_FILES_GRACE_SECONDS',
])

/** http is allowed for a JWKS on this machine only (a test, a sidecar); elsewhere keys travel over https. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

function oidcConfig(c: Static<typeof Env>, problems: string[]): OidcConfig | undefined {
  const given = [c.OIDC_ISSUER, c.OIDC_AUDIENCE, c.OIDC_JWKS_URL, c.OIDC_JWKS_FILE].some((v) => v !== undefined)
  if (!given) {
    if (c.NODE_ENV === 'production') {
      problems.push(
        'OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL (or OIDC_JWKS_FILE) are not set: in production users sign in with ID tokens of your identity provider (the development login is off).',
      )
    }
    return undefined
  }
  if (c.OIDC_ISSUER === undefined) problems.push('OIDC_ISSUER is not set: the issuer (`iss`) of the ID tokens to accept.')
  if (c.OIDC_AUDIENCE === undefined) problems.push('OIDC_AUDIENCE is not set: the audience (`aud`, your client id) of the ID tokens to accept.')
  if ((c.OIDC_JWKS_URL === undefined) === (c.OIDC_JWKS_FILE === undefined))
    problems.push("Set exactly one of OIDC_JWKS_URL and OIDC_JWKS_FILE: where the provider's signing keys are.")
  let jwks: OidcConfig['jwks'] | undefined
  if (c.OIDC_JWKS_URL !== undefined) {
    const url = URL.canParse(c.OIDC_JWKS_URL) ? new URL(c.OIDC_JWKS_URL) : undefined
    if (url === undefined) problems.push(`OIDC_JWKS_URL: not a URL (got ${JSON.stringify(c.OIDC_JWKS_URL)})`)
    else if (url.protocol !== 'https:' && !LOOPBACK.has(url.hostname)) problems.push('OIDC_JWKS_URL must be https (http only for 127.0.0.1 or localhost).')
    else jwks = { url }
  } else if (c.OIDC_JWKS_FILE !== undefined) jwks = { file: path.resolve(c.OIDC_JWKS_FILE) }
  if (c.OIDC_ISSUER === undefined || c.OIDC_AUDIENCE === undefined || jwks === undefined) return undefined
  return { issuer: c.OIDC_ISSUER, audience: c.OIDC_AUDIENCE, jwks, usernameClaim: c.OIDC_USERNAME_CLAIM, groupsClaim: c.OIDC_GROUPS_CLAIM }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(Env.properties)) {
    const value = env[key]
    if (value === undefined || value === '') continue
    raw[key] = NUMERIC.has(key) && /^-?\d+$/.test(value) ? Number(value) : value
  }
  const withDefaults = Value.Default(Env, raw) as Record<string, unknown>
  const problems = [...Value.Errors(Env, withDefaults)].map((e) => {
    const name = e.path.replace(/^\//, '')
    const shown = name.endsWith('SECRET') || name === 'DATABASE_URL' ? '(hidden)' : JSON.stringify(e.value)
    return `${name}: ${e.message} (got ${shown})`
  })
  if (problems.length > 0) throw new ConfigurationError(problems)
  const c = withDefaults as Static<typeof Env>
  const generatedSecrets: string[] = []
  const secret = (name: 'JWT_SECRET' | 'SERVICE_SECRET'): string => {
    const given = c[name]
    if (given !== undefined) return given
    if (c.NODE_ENV === 'production') {
      problems.push(`${name} is not set: in production it must be set to a random string of at least 32 characters (e.g. \`openssl rand -hex 32\`).`)
      return ''
    }
    generatedSecrets.push(name)
    return randomBytes(32).toString('hex')
  }
  const jwtSecret = secret('JWT_SECRET')
  const serviceSecret = secret('SERVICE_SECRET')
  const oidc = oidcConfig(c, problems)
  if (problems.length > 0) throw new ConfigurationError(problems)
  return {
    env: c.NODE_ENV,
    port: c.PORT,
    host: c.HOST,
    dataDir: path.resolve(c.DATA_DIR),
    databaseUrl: c.DATABASE_URL,
    jwtSecret,
    serviceSecret,
    logLevel: c.LOG_LEVEL,
    maxUploadBytes: c.MAX_UPLOAD_BYTES,
    dbPoolMax: c.DB_POOL_MAX,
    teacherGroup: c.TEACHER_GROUP,
    operatorGroup: c.OPERATOR_GROUP,
    oidc,
    shutdownGraceMs: c.SHUTDOWN_GRACE_MS,
    liveMessagesPerSecond: c.LIVE_MESSAGES_PER_SECOND,
    liveMessageBurst: c.LIVE_MESSAGE_BURST,
    replacedFilesGraceMs: c.REPLACED_FILES_GRACE_SECONDS * 1000,
    generatedSecrets,
  }
}
