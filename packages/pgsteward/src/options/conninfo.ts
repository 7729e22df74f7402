/**
 * libpq's two connection-string forms, parsed into keyword/value pairs: the URL form
 * (`postgres://user:pw@h1:5432,h2:5433/db?sslmode=require`, several hosts allowed, which the
 * WHATWG URL parser refuses) and the keyword form (`host=a,b port=5432,5433 dbname=app`).
 * Only the syntax is handled here; which keywords are accepted is decided by connection-settings.ts.
 */

/** Keyword/value pairs as libpq names them (`dbname`, not `database`). */
export type Conninfo = Map<string, string>

export class ConninfoSyntaxError extends Error {}

const URL_SCHEME = /^(postgres(?:ql)?):\/\//i

export function parseConninfo(text: string): Conninfo {
  const trimmed = text.trim()
  if (URL_SCHEME.test(trimmed)) return parseUrl(trimmed)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new ConninfoSyntaxError(`must start with postgres:// or postgresql://, got ${trimmed.slice(0, trimmed.indexOf('://') + 3)}`)
  }
  if (trimmed.includes('=')) return parseKeywords(trimmed)
  throw new ConninfoSyntaxError('is neither a postgres:// URL nor a list of keyword=value settings')
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw new ConninfoSyntaxError(`has a badly percent-encoded ${what}`)
  }
}

function parseUrl(url: string): Conninfo {
  const out: Conninfo = new Map()
  let rest = url.replace(URL_SCHEME, '')
  const hashAt = rest.indexOf('#')
  if (hashAt >= 0) rest = rest.slice(0, hashAt)
  const queryAt = rest.indexOf('?')
  const query = queryAt >= 0 ? rest.slice(queryAt + 1) : ''
  if (queryAt >= 0) rest = rest.slice(0, queryAt)
  const slashAt = rest.indexOf('/')
  const authority = slashAt >= 0 ? rest.slice(0, slashAt) : rest
  const path = slashAt >= 0 ? rest.slice(slashAt + 1) : ''
  const atAt = authority.lastIndexOf('@')
  const userinfo = atAt >= 0 ? authority.slice(0, atAt) : undefined
  const hostlist = atAt >= 0 ? authority.slice(atAt + 1) : authority
  if (userinfo !== undefined) {
    const colonAt = userinfo.indexOf(':')
    const user = colonAt >= 0 ? userinfo.slice(0, colonAt) : userinfo
    if (user !== '') out.set('user', decode(user, 'user name'))
    if (colonAt >= 0) out.set('password', decode(userinfo.slice(colonAt + 1), 'password'))
  }
  if (hostlist !== '') {
    const hosts: string[] = []
    const ports: string[] = []
    for (const entry of splitHosts(hostlist)) {
      const { host, port } = splitHostPort(entry)
      hosts.push(decode(host, 'host'))
      ports.push(port)
    }
    if (hosts.some((h) => h !== '')) out.set('host', hosts.join(','))
    if (ports.some((p) => p !== '')) out.set('port', ports.join(','))
  }
  if (path !== '') out.set('dbname', decode(path, 'database name'))
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq < 0) throw new ConninfoSyntaxError(`has a query parameter without a value: ${pair}`)
    const key = decode(pair.slice(0, eq), 'parameter name')
    const value = decode(pair.slice(eq + 1).replaceAll('+', ' '), `value of ${key}`)
    out.set(key === 'database' ? 'dbname' : key, value)
  }
  return out
}

/** Split `h1:5432,[::1]:5433` at the commas that separate hosts (not those inside brackets). */
function splitHosts(list: string): string[] {
  const out: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < list.length; i++) {
    const c = list[i]
    if (c === '[') depth++
    else if (c === ']') depth--
    else if (c === ',' && depth === 0) {
      out.push(list.slice(start, i))
      start = i + 1
    }
  }
  out.push(list.slice(start))
  return out
}

function splitHostPort(entry: string): { host: string; port: string } {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close < 0) throw new ConninfoSyntaxError(`has an unclosed [ in host ${entry}`)
    const after = entry.slice(close + 1)
    if (after !== '' && !after.startsWith(':')) throw new ConninfoSyntaxError(`has text after the IPv6 address ${entry}`)
    return { host: entry.slice(1, close), port: after.slice(1) }
  }
  const colonAt = entry.lastIndexOf(':')
  return colonAt >= 0 ? { host: entry.slice(0, colonAt), port: entry.slice(colonAt + 1) } : { host: entry, port: '' }
}

/** `key=value key2='quoted value'`, with backslash escapes inside quotes, as libpq reads it. */
function parseKeywords(text: string): Conninfo {
  const out: Conninfo = new Map()
  let i = 0
  const n = text.length
  const skipSpace = (): void => {
    while (i < n && /\s/.test(text[i] ?? '')) i++
  }
  while (true) {
    skipSpace()
    if (i >= n) break
    const keyStart = i
    while (i < n && text[i] !== '=' && !/\s/.test(text[i] ?? '')) i++
    const key = text.slice(keyStart, i)
    skipSpace()
    if (text[i] !== '=') throw new ConninfoSyntaxError(`has a setting without "=": ${key}`)
    i++
    skipSpace()
    let value = ''
    if (text[i] === "'") {
      i++
      let closed = false
      while (i < n) {
        const c = text[i]
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1]
          i += 2
        } else if (c === "'") {
          i++
          closed = true
          break
        } else {
          value += c
          i++
        }
      }
      if (!closed) throw new ConninfoSyntaxError(`has an unterminated quoted value for ${key}`)
    } else {
      while (i < n && !/\s/.test(text[i] ?? '')) {
        if (text[i] === '\\' && i + 1 < n) {
          value += text[i + 1]
          i += 2
        } else {
          value += text[i]
          i++
        }
      }
    }
    if (key === '') throw new ConninfoSyntaxError('has a value without a keyword')
    out.set(key, value)
  }
  return out
}
