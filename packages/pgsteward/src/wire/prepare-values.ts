/**
 * Parameter values turned into what the wire carries (text, a Buffer, or NULL) before anything
 * is written, so a value that cannot be sent fails its own statement with a typed error naming
 * its position, and never leaves half a statement on the connection. The conversion itself is
 * node-postgres's (Dates, Buffers, arrays, JSON, `toPostgres`), so values mean what they mean in `pg`.
 */
import { prepareValue } from 'pg/lib/utils.js'
import { ParameterError, TooManyParametersError } from '../errors/error-classes.js'

/** The protocol counts parameters in 16 bits. */
export const MAX_PARAMETERS = 65_535

export type WireValue = string | Buffer | null

function reasonFor(err: unknown): string {
  if (err instanceof RangeError) return 'it is nested too deeply to convert (a very deep array or object)'
  if (err instanceof TypeError && /circular/i.test(err.message)) return 'it is a circular object, which JSON cannot represent'
  if (err instanceof TypeError && /bigint/i.test(err.message)) return 'it is an object holding a BigInt, which JSON cannot represent'
  if (err instanceof Error)
    return `converting it threw ${err.name}` + (err.name === 'Error' || err.name === 'TypeError' ? ' (from its toJSON or toPostgres)' : '')
  return 'converting it threw'
}

/** Every value as the wire carries it, or a `ParameterError` / `TooManyParametersError`. */
export function prepareValues(values: readonly unknown[], sql: string | undefined): WireValue[] {
  if (values.length > MAX_PARAMETERS) throw new TooManyParametersError(values.length, sql)
  const out = new Array<WireValue>(values.length)
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    const kind = typeof value
    if (kind === 'string') {
      out[i] = value as string
      continue
    }
    if (kind === 'symbol') throw new ParameterError(i + 1, 'it is a Symbol', sql)
    if (kind === 'function') throw new ParameterError(i + 1, 'it is a function', sql)
    try {
      out[i] = prepareValue(value)
    } catch (err) {
      throw new ParameterError(i + 1, reasonFor(err), sql)
    }
  }
  return out
}
