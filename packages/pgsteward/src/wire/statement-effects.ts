/**
 * What a statement may do to its connection beyond its own result, decided from its text before
 * it runs (whether it then succeeds or fails):
 *
 * - 'plain': a single SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, TABLE or WITH ... that names
 *   nothing known to leave state behind. It leaves the session as it found it, so it needs no
 *   reset and may share a connection with other callers' statements.
 * - 'neutral': a single statement that changes no session state but is not a plain query
 *   (DDL without TEMP, NOTIFY, transaction control whose effect ReadyForQuery reports): no reset,
 *   but it never shares a connection.
 * - 'session': anything that may leave state for the next borrower (SET, LISTEN, PREPARE, temp
 *   tables, session advisory locks, set_config, cursors, DO blocks, several statements in one
 *   string, or anything not recognised): the connection is reset before it is lent again.
 *
 * Where the text cannot be classified with certainty the answer is 'session': a reset is cheap,
 * a leak is not. A function that changes settings inside its body without a `SET` clause in its
 * definition is invisible from the calling text.
 */

export type StatementEffect = 'plain' | 'neutral' | 'session'

const QUERY_STARTS = new Set(['select', 'insert', 'update', 'delete', 'merge', 'values', 'table', 'with'])
const NEUTRAL_STARTS = new Set([
  'create',
  'alter',
  'drop',
  'comment',
  'grant',
  'revoke',
  'truncate',
  'vacuum',
  'analyze',
  'analyse',
  'refresh',
  'reindex',
  'cluster',
  'notify',
  'begin',
  'start',
  'commit',
  'end',
  'rollback',
  'abort',
  'savepoint',
  'release',
  'lock',
  'explain',
  'checkpoint',
  'security',
])
/** Words that, anywhere in a statement, may leave state behind. */
const SESSION_WORDS = new Set([
  'temp',
  'temporary',
  'pg_temp',
  'set_config',
  'pg_advisory_lock',
  'pg_advisory_lock_shared',
  'pg_try_advisory_lock',
  'pg_try_advisory_lock_shared',
  'dblink_connect',
  'dblink_connect_u',
  'lo_open',
  'set',
  'reset',
  'listen',
  'prepare',
  'declare',
])

interface Scanned {
  words: string[]
  /** The first words of each statement, in order. */
  heads: string[][]
  multiple: boolean
  unterminated: boolean
}

const HEAD_WORDS = 6

/** Lower-cased words outside strings, quoted identifiers and comments; `multiple` when a second statement follows a `;`. */
function scan(text: string): Scanned {
  const words: string[] = []
  const heads: string[][] = []
  let head: string[] | undefined
  const push = (word: string): void => {
    words.push(word)
    if (head === undefined) heads.push((head = []))
    if (head.length < HEAD_WORDS) head.push(word)
  }
  let multiple = false
  let sawEnd = false
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    const next = text.charCodeAt(i + 1)
    if (c === 45 && next === 45) {
      // -- line comment
      const end = text.indexOf('\n', i)
      i = end < 0 ? n : end + 1
    } else if (c === 47 && next === 42) {
      // /* block comment */, nested
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (text.startsWith('/*', i)) {
          depth++
          i += 2
        } else if (text.startsWith('*/', i)) {
          depth--
          i += 2
        } else i++
      }
      if (depth > 0) return { words, heads, multiple, unterminated: true }
    } else if (c === 39 || ((c === 69 || c === 101) && next === 39)) {
      // 'string' or E'string' (backslash escapes)
      const escapes = c !== 39
      i += escapes ? 2 : 1
      let closed = false
      while (i < n) {
        const d = text.charCodeAt(i)
        if (escapes && d === 92) i += 2
        else if (d === 39) {
          if (text.charCodeAt(i + 1) === 39) i += 2
          else {
            i++
            closed = true
            break
          }
        } else i++
      }
      if (!closed) return { words, heads, multiple, unterminated: true }
    } else if (c === 34) {
      // "quoted identifier": kept as a word, since pg_temp can be written quoted
      const end = text.indexOf('"', i + 1)
      if (end < 0) return { words, heads, multiple, unterminated: true }
      if (sawEnd) multiple = true
      push(text.slice(i + 1, end).toLowerCase())
      i = end + 1
    } else if (c === 36) {
      // $tag$ dollar quoting $tag$, or a $1 parameter
      const tagEnd = text.indexOf('$', i + 1)
      const tag = tagEnd < 0 ? '' : text.slice(i, tagEnd + 1)
      if (tagEnd >= 0 && /^\$[A-Za-z_]*\$$/.test(tag)) {
        const close = text.indexOf(tag, tagEnd + 1)
        if (close < 0) return { words, heads, multiple, unterminated: true }
        i = close + tag.length
      } else i++
    } else if (c === 59) {
      // ;
      sawEnd = true
      head = undefined
      i++
    } else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127) {
      const start = i
      while (i < n) {
        const d = text.charCodeAt(i)
        if ((d >= 65 && d <= 90) || (d >= 97 && d <= 122) || (d >= 48 && d <= 57) || d === 95 || d === 36 || d > 127) i++
        else break
      }
      if (sawEnd) multiple = true
      push(text.slice(start, i).toLowerCase())
    } else {
      if (sawEnd && c > 32) multiple = true
      i++
    }
  }
  return { words, heads, multiple, unterminated: false }
}

/**
 * The first few lower-cased words of each statement in `text` (comments, strings and dollar
 * quotes skipped), or undefined when the text cannot be read to its end (an unterminated quote).
 */
export function statementHeads(text: string): string[][] | undefined {
  const { heads, unterminated } = scan(text)
  return unterminated ? undefined : heads
}

/** What a statement text may do, and whether it holds more than one statement. */
export interface StatementShape {
  effect: StatementEffect
  /** Several statements separated by `;` (only the simple protocol can carry them). */
  multiple: boolean
}

const cache = new Map<string, StatementShape>()
const CACHE_LIMIT = 5_000

/** Classify `text` (see the module comment); remembered per text, since the same statements recur. */
export function analyzeStatement(text: string): StatementShape {
  let shape = cache.get(text)
  if (shape === undefined) {
    shape = classify(text)
    if (cache.size >= CACHE_LIMIT) cache.clear()
    cache.set(text, shape)
  }
  return shape
}

/** SET LOCAL / SET TRANSACTION / SET CONSTRAINTS: settings that end with the transaction. */
const TRANSACTION_SCOPED_SET = /^(local|transaction|constraints)$/

function classify(text: string): StatementShape {
  const { words, multiple, unterminated } = scan(text)
  return { effect: multiple || unterminated ? 'session' : effectOf(words), multiple }
}

function effectOf(words: readonly string[]): StatementEffect {
  const first = words[0]
  if (first === undefined) return 'neutral'
  const scopedSet = first === 'set' && TRANSACTION_SCOPED_SET.test(words[1] ?? '')
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string
    if (!SESSION_WORDS.has(word)) continue
    // SET after the first word belongs to UPDATE ... SET or ALTER ... SET, not to the session.
    if (word === 'set' && (i > 0 || scopedSet)) continue
    return 'session'
  }
  if (QUERY_STARTS.has(first)) {
    // SELECT ... INTO creates a table; INSERT INTO and MERGE INTO do not.
    if (words.includes('into') && !words.includes('insert') && !words.includes('merge')) return 'session'
    return 'plain'
  }
  return scopedSet || NEUTRAL_STARTS.has(first) ? 'neutral' : 'session'
}
