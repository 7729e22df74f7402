/**
 * Statement text as telemetry may carry it. Parameterised text (values sent apart, as `$n`) is
 * kept as written: the values never were in it. Text without a single `$n` may have had its
 * values spliced in by the caller (`pool.query("... where name = 'ann'")`), so every literal in
 * it (strings, numbers, dollar-quoted bodies, TRUE/FALSE) is replaced with `?`, as the
 * OpenTelemetry database conventions ask of non-parameterised text.
 */
import type { SqlToken } from './sql-tokens.js'

const BOOLEANS = new Set(['true', 'false'])

function isLiteral(token: SqlToken): boolean {
  return token.kind === 'string' || token.kind === 'number' || (token.kind === 'word' && BOOLEANS.has(token.text.toLowerCase()))
}

export function redactLiterals(text: string, tokens: readonly SqlToken[]): string {
  if (tokens.some((t) => t.kind === 'param')) return text
  let out = ''
  let at = 0
  for (const token of tokens) {
    if (!isLiteral(token)) continue
    out += text.slice(at, token.start) + '?'
    at = token.end
  }
  return at === 0 ? text : out + text.slice(at)
}
