/**
 * node-postgres's own `Query` for a facade call, so results, row modes, type parsers, named
 * statements and paged reads behave exactly as with `pg`, with one difference: parameter values
 * are converted before anything is written, so a value that cannot be sent fails its query with
 * `ParameterError` and never leaves half a statement on the connection.
 */
import pg from 'pg'
import { prepareValues } from '../wire/prepare-values.js'
import { analyzeStatement, type StatementEffect } from '../wire/statement-effects.js'
import type { DriverSubmittable } from '../wire/submittable-entry.js'
import { callBack, type PgCallback } from './pg-query-arguments.js'

const PgQuery = pg.Query as unknown as new (config: pg.QueryConfig) => DriverSubmittable & {
  text: string
  rows?: number
  callback?: (err: Error | null, result?: unknown) => void
}

/** What a submittable may do to its connection, from its SQL text; unknown text is taken as session state. */
export function submittableEffect(text: string | undefined): StatementEffect {
  return text === undefined || text === '' ? 'session' : analyzeStatement(text).effect
}

export interface DriverQuery {
  query: DriverSubmittable
  /** Paged reads (`rows`) keep a portal open between round trips: nothing may be written behind them. */
  exclusive: boolean
  effect: StatementEffect
  /** The result, when called without a callback (as node-postgres returns it). */
  result: Promise<pg.QueryResult> | undefined
}

/** A `pg.Query` for `config`; throws `ParameterError` / `TooManyParametersError` for values that cannot be sent. */
export function driverQuery(config: pg.QueryConfig, callback: PgCallback | undefined): DriverQuery {
  const values = config.values === undefined ? undefined : prepareValues(config.values, config.text)
  const query = new PgQuery(values === undefined ? config : { ...config, values })
  let result: Promise<pg.QueryResult> | undefined
  if (callback !== undefined) {
    query.callback = (err, res) => callBack(callback, err ?? undefined, res)
  } else {
    result = new Promise<pg.QueryResult>((resolve, reject) => {
      query.callback = (err, res) => (err ? reject(err) : resolve(res as pg.QueryResult))
    })
  }
  return { query, exclusive: typeof query.rows === 'number' && query.rows > 0, effect: analyzeStatement(config.text).effect, result }
}
