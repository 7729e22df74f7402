/**
 * Validation of the options each call takes (`db.session`, `db.transaction`, a statement's
 * `{ signal, timeoutMs }`): unknown names and wrong values are a `MisuseError` listing every
 * problem, never silently ignored.
 */
import { MisuseError } from '../errors/error-classes.js'
import { checkSection, isPlainObject, type Kind } from './option-checks.js'
import { RETRY_KEYS } from './validate-options.js'

export const STATEMENT_OPTION_KINDS: Readonly<Record<string, Kind>> = { signal: 'signal', timeoutMs: 'positive-ms' }
export const SESSION_OPTION_KINDS: Readonly<Record<string, Kind>> = { ...STATEMENT_OPTION_KINDS, independent: 'boolean' }
export const TRANSACTION_OPTION_KINDS: Readonly<Record<string, Kind>> = {
  ...SESSION_OPTION_KINDS,
  isolation: 'isolation',
  readOnly: 'boolean',
  deferrable: 'boolean',
  retry: 'object',
}

/** Throws `MisuseError` naming every problem of `options` for the call `where`. */
export function checkCallOptions(options: unknown, kinds: Readonly<Record<string, Kind>>, where: string): void {
  if (options === undefined) return
  if (!isPlainObject(options)) throw new MisuseError(`The options of ${where} must be an object, got ${options === null ? 'null' : typeof options}.`)
  const problems: string[] = []
  checkSection(options, kinds, '', problems)
  if (isPlainObject(options.retry)) checkSection(options.retry, RETRY_KEYS, 'retry.', problems)
  if (problems.length > 0) throw new MisuseError(`Invalid options for ${where}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
}
