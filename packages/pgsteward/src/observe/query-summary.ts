/**
 * The low-cardinality summary of a statement that the OpenTelemetry database conventions use as
 * the span name (`db.query.summary`): its operations and the tables they act on, in the order
 * written, as written (no case folding), e.g. `SELECT users`, `INSERT shipping_details SELECT
 * orders`, `SELECT songs artists`. Savepoint and cursor names, literals and parameters never
 * appear, so statements that differ only in those share one summary. Undefined for text with no
 * statement in it.
 */
import type { SqlToken } from './sql-tokens.js'

/** The conventions cap a generated summary at 255 characters, cut between parts. */
const MAX_SUMMARY = 255

const QUERY_OPERATIONS = new Set(['select', 'insert', 'update', 'delete', 'merge'])

/** Words after which INSERT/UPDATE/DELETE are part of the statement around them, not operations of their own. */
const NOT_AN_OPERATION_AFTER = new Set(['for', 'key', 'do', 'then', 'on', 'or', 'before', 'after', 'of', 'instead'])

/** Words that end a table reference: never taken for an alias. */
const CLAUSE_WORDS = new Set([
  'where',
  'group',
  'order',
  'limit',
  'offset',
  'having',
  'window',
  'union',
  'except',
  'intersect',
  'on',
  'using',
  'join',
  'inner',
  'left',
  'right',
  'full',
  'cross',
  'natural',
  'outer',
  'lateral',
  'returning',
  'set',
  'values',
  'for',
  'fetch',
  'as',
  'tablesample',
  'with',
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'into',
  'from',
  'default',
  'when',
  'then',
  'do',
  'only',
  'and',
  'or',
  'not',
  'overriding',
  'is',
  'in',
  'partition',
  'on',
  'conflict',
  'to',
  'stdin',
  'stdout',
  'csv',
  'binary',
])

/** Object kinds named by CREATE, ALTER, DROP and REFRESH. */
const OBJECT_KINDS = new Set([
  'table',
  'index',
  'view',
  'function',
  'procedure',
  'sequence',
  'schema',
  'extension',
  'type',
  'trigger',
  'domain',
  'role',
  'user',
  'database',
  'policy',
  'rule',
  'aggregate',
  'operator',
  'collation',
  'publication',
  'subscription',
  'server',
  'tablespace',
  'cast',
  'statistics',
  'language',
  'conversion',
  'routine',
  'group',
])

const TRANSACTION_CONTROL = new Set(['begin', 'start', 'commit', 'end', 'abort', 'rollback', 'savepoint', 'release'])
const FIRST_WORD_ONLY = new Set([
  'set',
  'reset',
  'show',
  'listen',
  'unlisten',
  'notify',
  'discard',
  'do',
  'deallocate',
  'checkpoint',
  'load',
  'prepare',
  'execute',
  'fetch',
  'move',
  'close',
  'declare',
  'grant',
  'revoke',
  'comment',
  'vacuum',
  'analyze',
  'analyse',
  'reindex',
  'cluster',
  'security',
  'import',
  'reassign',
  'values',
])

const lower = (t: SqlToken | undefined): string | undefined => (t?.kind === 'word' ? t.text.toLowerCase() : undefined)
const isPunct = (t: SqlToken | undefined, c: string): boolean => t?.kind === 'punct' && t.text === c
const isName = (t: SqlToken | undefined): boolean => t !== undefined && (t.kind === 'quoted' || (t.kind === 'word' && !CLAUSE_WORDS.has(t.text.toLowerCase())))

/** A possibly qualified name at `at` (`users`, `public.users`, `"Song List"`): its text and the index after it. */
function readName(tokens: readonly SqlToken[], at: number): { name: string; next: number } | undefined {
  if (!isName(tokens[at])) return undefined
  let name = (tokens[at] as SqlToken).text
  let i = at + 1
  while (isPunct(tokens[i], '.') && (tokens[i + 1]?.kind === 'word' || tokens[i + 1]?.kind === 'quoted')) {
    name += '.' + (tokens[i + 1] as SqlToken).text
    i += 2
  }
  return { name, next: i }
}

/**
 * Table references after FROM, JOIN, INTO, UPDATE or USING, starting at `at`: each name (a call
 * such as `unnest(...)` is a function, not a table, unless `allowCall`), its alias, and with
 * `list` the ones after commas. Returns the index to go on from; never consumes a parenthesis.
 */
function readTargets(tokens: readonly SqlToken[], at: number, parts: string[], list: boolean, allowCall: boolean): number {
  let i = at
  for (;;) {
    while (lower(tokens[i]) === 'only' || lower(tokens[i]) === 'lateral') i++
    const read = readName(tokens, i)
    if (read === undefined) return i
    if (isPunct(tokens[read.next], '(') && !allowCall) return read.next
    parts.push(read.name)
    i = read.next
    if (lower(tokens[i]) === 'as') i += 2
    else if (isName(tokens[i]) && tokens[i]?.kind === 'word') i++
    if (!list || !isPunct(tokens[i], ',')) return i
    i++
  }
}

/** SELECT / INSERT / UPDATE / DELETE / MERGE, with their subqueries and CTEs. */
function queryParts(tokens: readonly SqlToken[], parts: string[]): void {
  // Whether the innermost parenthesis (or the statement) holds a query: FROM inside extract(...) or substring(...) names no table.
  const queryAtDepth: boolean[] = [false]
  let prev: string | undefined
  let i = 0
  while (i < tokens.length) {
    const t = tokens[i] as SqlToken
    if (t.kind === 'punct') {
      if (t.text === '(') queryAtDepth.push(false)
      else if (t.text === ')' && queryAtDepth.length > 1) queryAtDepth.pop()
      prev = t.text
      i++
      continue
    }
    const word = lower(t)
    i++
    if (word === undefined) {
      prev = undefined
      continue
    }
    const depth = queryAtDepth.length - 1
    if (QUERY_OPERATIONS.has(word) && !(prev !== undefined && NOT_AN_OPERATION_AFTER.has(prev))) {
      parts.push(t.text)
      queryAtDepth[depth] = true
      if (word === 'update') i = readTargets(tokens, i, parts, false, false)
    } else if (queryAtDepth[depth] === true) {
      if (word === 'from' && prev !== 'distinct') i = readTargets(tokens, i, parts, true, false)
      else if (word === 'join') i = readTargets(tokens, i, parts, false, false)
      else if (word === 'into') i = readTargets(tokens, i, parts, false, true)
      else if (word === 'using' && !isPunct(tokens[i], '(')) i = readTargets(tokens, i, parts, true, false)
    }
    prev = word
  }
}

/** CREATE / ALTER / DROP / REFRESH ...: the command up to its object kind, and the object's name. */
function summarizeDefinition(tokens: readonly SqlToken[], parts: string[]): void {
  let i = 1
  while (i < tokens.length && i <= 6 && !OBJECT_KINDS.has(lower(tokens[i]) ?? '')) i++
  if (!OBJECT_KINDS.has(lower(tokens[i]) ?? '')) {
    parts.push((tokens[0] as SqlToken).text)
    return
  }
  parts.push(
    tokens
      .slice(0, i + 1)
      .map((t) => t.text)
      .join(' '),
  )
  i++
  while (['concurrently', 'if', 'not', 'exists', 'only'].includes(lower(tokens[i]) ?? '')) i++
  if (lower(tokens[i]) === 'on') i++
  const read = readName(tokens, i)
  if (read !== undefined) parts.push(read.name)
}

function statementParts(tokens: readonly SqlToken[], parts: string[]): void {
  const first = tokens[0]
  const word = lower(first)
  if (first === undefined) return
  if (word === undefined) {
    // ( SELECT ... ) UNION ( ... ) and the like.
    queryParts(tokens, parts)
    return
  }
  switch (word) {
    case 'create':
    case 'alter':
    case 'drop':
    case 'refresh':
      return summarizeDefinition(tokens, parts)
    case 'truncate':
    case 'lock': {
      parts.push(first.text)
      const at = lower(tokens[1]) === 'table' ? 2 : 1
      readTargets(tokens, at, parts, word === 'truncate', false)
      return
    }
    case 'copy': {
      parts.push(first.text)
      if (isPunct(tokens[1], '(')) queryParts(tokens.slice(1), parts)
      else readTargets(tokens, 1, parts, false, true)
      return
    }
    case 'call': {
      parts.push(first.text)
      const read = readName(tokens, 1)
      if (read !== undefined) parts.push(read.name)
      return
    }
    case 'table': {
      parts.push(first.text)
      readTargets(tokens, 1, parts, false, false)
      return
    }
    case 'explain': {
      parts.push(first.text)
      let i = 1
      while (i < tokens.length && !QUERY_OPERATIONS.has(lower(tokens[i]) ?? '') && lower(tokens[i]) !== 'with') i++
      queryParts(tokens.slice(i), parts)
      return
    }
    case 'rollback':
      parts.push(
        lower(tokens[1]) === 'to'
          ? tokens
              .slice(0, lower(tokens[2]) === 'savepoint' ? 3 : 2)
              .map((t) => t.text)
              .join(' ')
          : first.text,
      )
      return
    case 'start':
      parts.push(lower(tokens[1]) === 'transaction' ? `${first.text} ${(tokens[1] as SqlToken).text}` : first.text)
      return
    case 'release':
      parts.push(lower(tokens[1]) === 'savepoint' ? `${first.text} ${(tokens[1] as SqlToken).text}` : first.text)
      return
    default:
      if (TRANSACTION_CONTROL.has(word) || FIRST_WORD_ONLY.has(word)) parts.push(first.text)
      else if (QUERY_OPERATIONS.has(word) || word === 'with') queryParts(tokens, parts)
      else parts.push(first.text)
  }
}

export function querySummary(tokens: readonly SqlToken[]): string | undefined {
  const parts: string[] = []
  let start = 0
  for (let i = 0; i <= tokens.length; i++) {
    if (i === tokens.length || isPunct(tokens[i], ';')) {
      if (i > start) statementParts(tokens.slice(start, i), parts)
      start = i + 1
    }
  }
  if (parts.length === 0) return undefined
  let summary = ''
  for (const part of parts) {
    const next = summary === '' ? part : `${summary} ${part}`
    if (next.length > MAX_SUMMARY) break
    summary = next
  }
  return summary === '' ? (parts[0] as string).slice(0, MAX_SUMMARY) : summary
}
