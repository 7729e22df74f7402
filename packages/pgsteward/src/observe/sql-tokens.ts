/**
 * A PostgreSQL lexer just deep enough for observability: words, quoted identifiers, literals,
 * positional parameters and punctuation, with comments and whitespace dropped. The query summary
 * (span names) and literal redaction (`db.query.text`, slow-statement logs, the dashboard) both
 * read statements through it, so a keyword inside a string or comment never counts as one and a
 * literal is always recognised whole. It never throws: text it cannot read to the end (an
 * unterminated string) ends in one last literal token, which redaction then hides.
 */

export type SqlTokenKind = 'word' | 'quoted' | 'string' | 'number' | 'param' | 'punct'

export interface SqlToken {
  kind: SqlTokenKind
  /** The token as written (for `word`, not case-folded). */
  text: string
  start: number
  end: number
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isWordStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128
const isWordPart = (c: number): boolean => isWordStart(c) || isDigit(c) || c === 36

/** End of a quoted run starting at `from` (just after the opening quote): the index after the closing quote. */
function endOfQuoted(text: string, from: number, quote: number, backslashEscapes: boolean): number {
  let i = from
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (backslashEscapes && c === 92) i += 2
    else if (c === quote) {
      if (text.charCodeAt(i + 1) === quote) i += 2
      else return i + 1
    } else i++
  }
  return text.length
}

/** `$tag$` or `$$` opening a dollar-quoted string at `at`, or undefined. */
function dollarTag(text: string, at: number): string | undefined {
  let i = at + 1
  if (text.charCodeAt(i) === 36) return '$$'
  if (!isWordStart(text.charCodeAt(i))) return undefined
  while (i < text.length && (isWordStart(text.charCodeAt(i)) || isDigit(text.charCodeAt(i)))) i++
  return text.charCodeAt(i) === 36 ? text.slice(at, i + 1) : undefined
}

/** End of a numeric literal at `at`: 42, 3.14, .5, 1e-3, 1_000, 0x1F, 0o17, 0b101. */
function endOfNumber(text: string, at: number): number {
  const n = text.length
  let i = at
  if (text.charCodeAt(at) === 48 && /[xXoObB]/.test(text[at + 1] ?? '')) {
    i = at + 2
    while (i < n && /[0-9a-fA-F_]/.test(text[i] ?? '')) i++
    return i
  }
  while (i < n && (isDigit(text.charCodeAt(i)) || text.charCodeAt(i) === 46 || text.charCodeAt(i) === 95)) i++
  const e = text.charCodeAt(i)
  if (e === 101 || e === 69) {
    let j = i + 1
    if (text.charCodeAt(j) === 43 || text.charCodeAt(j) === 45) j++
    if (isDigit(text.charCodeAt(j))) {
      i = j
      while (i < n && isDigit(text.charCodeAt(i))) i++
    }
  }
  return i
}

export function tokenize(text: string): SqlToken[] {
  const tokens: SqlToken[] = []
  const n = text.length
  let i = 0
  const push = (kind: SqlTokenKind, start: number, end: number): void => {
    tokens.push({ kind, text: text.slice(start, end), start, end })
    i = end
  }
  while (i < n) {
    const c = text.charCodeAt(i)
    const next = text.charCodeAt(i + 1)
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      i++
    } else if (c === 45 && next === 45) {
      const end = text.indexOf('\n', i)
      i = end < 0 ? n : end + 1
    } else if (c === 47 && next === 42) {
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
    } else if (c === 39) {
      push('string', i, endOfQuoted(text, i + 1, 39, false))
    } else if ((c === 69 || c === 101) && next === 39) {
      // E'...' with backslash escapes
      push('string', i, endOfQuoted(text, i + 2, 39, true))
    } else if ((c === 66 || c === 98 || c === 88 || c === 120 || c === 78 || c === 110) && next === 39) {
      // B'0101', X'1F', N'national'
      push('string', i, endOfQuoted(text, i + 2, 39, false))
    } else if ((c === 85 || c === 117) && next === 38 && text.charCodeAt(i + 2) === 39) {
      // U&'unicode'
      push('string', i, endOfQuoted(text, i + 3, 39, false))
    } else if ((c === 85 || c === 117) && next === 38 && text.charCodeAt(i + 2) === 34) {
      push('quoted', i, endOfQuoted(text, i + 3, 34, false))
    } else if (c === 34) {
      push('quoted', i, endOfQuoted(text, i + 1, 34, false))
    } else if (c === 36 && isDigit(next)) {
      let end = i + 1
      while (end < n && isDigit(text.charCodeAt(end))) end++
      push('param', i, end)
    } else if (c === 36 && dollarTag(text, i) !== undefined) {
      const tag = dollarTag(text, i) as string
      const close = text.indexOf(tag, i + tag.length)
      push('string', i, close < 0 ? n : close + tag.length)
    } else if (isDigit(c) || (c === 46 && isDigit(next))) {
      push('number', i, endOfNumber(text, i))
    } else if (isWordStart(c)) {
      let end = i + 1
      while (end < n && isWordPart(text.charCodeAt(end))) end++
      push('word', i, end)
    } else {
      push('punct', i, i + 1)
    }
  }
  return tokens
}
