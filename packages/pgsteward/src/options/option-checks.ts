/**
 * The checks every options object goes through: known names (with "did you mean"), the kind of
 * each value, and a description of a rejected value that never prints a secret.
 */

export type Kind =
  | 'string'
  | 'port'
  | 'count'
  | 'ms'
  | 'positive-ms'
  | 'boolean'
  | 'fraction'
  | 'ssl'
  | 'object'
  | 'call-sites'
  | 'password'
  | 'pooler'
  | 'string-map'
  | 'string-list'
  | 'signal'
  | 'isolation'
  | 'logger'

const KIND_TEXT: Record<Kind, string> = {
  string: 'a string',
  port: 'an integer from 1 to 65535',
  count: 'a non-negative integer',
  ms: 'a non-negative integer number of milliseconds',
  'positive-ms': 'a positive integer number of milliseconds',
  boolean: 'true or false',
  fraction: 'a number from 0 to 0.5',
  ssl: 'a boolean or a TLS options object',
  object: 'an object',
  'call-sites': "'always' or 'after-first-error'",
  password: 'a string or a function returning one',
  pooler: "'none' or 'transaction'",
  'string-map': 'an object of string values',
  'string-list': 'an array of strings',
  signal: 'an AbortSignal',
  isolation: "'read committed', 'repeatable read' or 'serializable'",
  logger: 'a pino-compatible logger (an object with a warn(object, message) method)',
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
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
    case 'positive-ms':
      return Number.isSafeInteger(value) && (value as number) > 0
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
    case 'password':
      return typeof value === 'string' || typeof value === 'function'
    case 'pooler':
      return value === 'none' || value === 'transaction'
    case 'string-map':
      return isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string')
    case 'string-list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
    case 'signal':
      return value instanceof AbortSignal
    case 'isolation':
      return value === 'read committed' || value === 'repeatable read' || value === 'serializable'
    case 'logger':
      return typeof value === 'object' && value !== null && typeof (value as { warn?: unknown }).warn === 'function'
  }
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

/** " Did you mean X?" for a name close to a valid one (or one users bring from other pools), else the valid names. */
export function suggest(name: string, valid: readonly string[], prefix: string, familiar: Readonly<Record<string, string>> = {}): string {
  const known = familiar[name]
  if (known) return ` Did you mean ${known}?`
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

/** A rejected value as a message may show it: never a password's text. */
export function describeValue(key: string, value: unknown): string {
  if (key === 'password') return `a ${typeof value}`
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || typeof value === 'bigint') return String(value)
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`
}

/** Check every entry of `section` against `schema`, appending one problem per unknown name or wrong value. */
export function checkSection(
  section: Record<string, unknown>,
  schema: Readonly<Record<string, Kind>>,
  prefix: string,
  problems: string[],
  familiar?: Readonly<Record<string, string>>,
): void {
  const valid = Object.keys(schema)
  for (const [key, value] of Object.entries(section)) {
    const kind = schema[key]
    if (kind === undefined) {
      problems.push(`Unknown option ${prefix}${key}.${suggest(key, valid, prefix, familiar)}`)
      continue
    }
    if (value === undefined) continue
    if (!checkKind(kind, value)) problems.push(`${prefix}${key} must be ${KIND_TEXT[kind]}, got ${describeValue(key, value)}.`)
  }
}

/** The entries of `section` whose value is not undefined. */
export function definedOnly(section: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(section).filter(([, v]) => v !== undefined))
}
