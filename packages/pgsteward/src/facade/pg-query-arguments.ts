/**
 * node-postgres's `query` accepts text or a config object, optional values, an optional callback,
 * or a submittable (cursor, stream). This turns any of those into one shape.
 */
import type pg from 'pg'

/** node-postgres's query config, with the `binary` flag its typings leave out. */
export type DriverQueryConfig = pg.QueryConfig & { binary?: boolean }
import { MisuseError } from '../errors/error-classes.js'

export type PgCallback = (err: Error | undefined, result?: unknown) => void

export type PgQueryArguments =
  | { kind: 'config'; config: DriverQueryConfig; callback: PgCallback | undefined }
  | { kind: 'submittable'; submittable: pg.Submittable; text: string; callback: undefined }

function isSubmittable(value: unknown): value is pg.Submittable {
  return typeof value === 'object' && value !== null && typeof (value as { submit?: unknown }).submit === 'function'
}

export function parsePgQueryArguments(first: unknown, second?: unknown, third?: unknown, binary = false): PgQueryArguments {
  if (isSubmittable(first)) {
    const text = (first as { text?: unknown }).text
    return { kind: 'submittable', submittable: first, text: typeof text === 'string' ? text : '', callback: undefined }
  }
  const callback = (typeof second === 'function' ? second : typeof third === 'function' ? third : undefined) as PgCallback | undefined
  const values = Array.isArray(second) ? (second as unknown[]) : undefined
  if (typeof first === 'string') {
    const config: DriverQueryConfig = values ? { text: first, values } : { text: first }
    if (binary) config.binary = true
    return { kind: 'config', config, callback }
  }
  if (typeof first === 'object' && first !== null && typeof (first as { text?: unknown }).text === 'string') {
    const config: DriverQueryConfig = { ...(first as DriverQueryConfig) }
    if (values) config.values = values
    if (binary && config.binary === undefined) config.binary = true
    return { kind: 'config', config, callback }
  }
  throw new MisuseError('query expects SQL text, a query config with `text`, or a submittable (cursor, stream).')
}

/** Settle a node-postgres-style call: callback style returns undefined, promise style the promise. */
export function settle<T>(promise: Promise<T>, callback: PgCallback | undefined): Promise<T> | undefined {
  if (callback === undefined) return promise
  promise.then(
    (result) => callBack(callback, undefined, result),
    (err: unknown) => callBack(callback, asError(err)),
  )
  return undefined
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/**
 * Call an application's callback as node-postgres does: an exception it throws is the
 * application's, and reaches the process as an uncaught exception (never an unhandled rejection
 * of ours, and never into the middle of the connection's message handling).
 */
export function callBack<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): void {
  try {
    callback(...args)
  } catch (err) {
    process.nextTick(() => {
      throw err
    })
  }
}
