/**
 * What telemetry shows of a statement: its summary (the span name) and its text with any
 * spliced-in literals hidden. Applications run the same few hundred texts over and over, so
 * each label is computed once and kept in a small bounded cache.
 */
import { querySummary } from './query-summary.js'
import { redactLiterals } from './redact-literals.js'
import { tokenize } from './sql-tokens.js'

export interface StatementLabel {
  /** `db.query.summary`: `SELECT users`; undefined when the text holds no statement. */
  summary: string | undefined
  /** The text as written when parameterised, else with its literals replaced by `?`. */
  redacted: string
}

const CACHE_SIZE = 500
/** Texts longer than this are labelled afresh each time rather than kept. */
const CACHEABLE_LENGTH = 4_096
const cache = new Map<string, StatementLabel>()

export function labelStatement(text: string): StatementLabel {
  const cached = cache.get(text)
  if (cached !== undefined) return cached
  const tokens = tokenize(text)
  const label: StatementLabel = { summary: querySummary(tokens), redacted: redactLiterals(text, tokens) }
  if (text.length <= CACHEABLE_LENGTH) {
    // Insertion order makes the oldest entry first: dropping it keeps the cache bounded.
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(text, label)
  }
  return label
}

/**
 * The text telemetry shows. pgsteward's own statements come from the `sql` tag, which always
 * sends values apart: their text is parameterised by construction, constants and all. Text that
 * came through the pg.Pool facade may have had values spliced in, so it is redacted unless it
 * carries `$n` parameters.
 */
export function shownText(text: string, via: 'pgsteward' | 'pg-facade'): string {
  return via === 'pgsteward' ? text : labelStatement(text).redacted
}
