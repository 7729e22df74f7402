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
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  MAX_UPLOAD_BYTES: Type.Integer({ minimum: 1, maximum: 100 * 1024 * 1024, default: 5 * 1024 * 1024 }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 500, default: 10 }),
  /** Members of this group (as the identity provider sends it at login) may create live events. */
  TEACHER_GROUP: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$', default: 'teachers' }),
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
  /** Secrets generated for this run because none were set (development only). */
  generatedSecrets: string[]
}

export class ConfigurationError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`The classroom service cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.problems = problems
  }
}

const NUMERIC = new Set(['PORT', 'MAX_UPLOAD_BYTES', 'DB_POOL_MAX'])

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
    generatedSecrets,
  }
}
