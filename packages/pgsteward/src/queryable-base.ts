/**
 * `query`, `one`, `maybeOne` and `many`, written once over a single `execute` that the
 * database and every scope provide.
 */
import { atLeastOne, atMostOne, exactlyOne, type QueryResult, type Row } from './query-result.js'
import type { Queryable, StatementOptions } from './scope/scope-types.js'
import { checkChannel, checkPayload } from './listen/channel.js'
import { sql, toQuery, type CompiledQuery, type Statement } from './sql.js'

export abstract class QueryableBase implements Queryable {
  /** Run an already compiled statement; `query` is the public way in. */
  protected abstract execute<R>(query: CompiledQuery, options: StatementOptions | undefined): Promise<QueryResult<R>>

  query<R = Row>(statement: Statement, options?: StatementOptions): Promise<QueryResult<R>> {
    let compiled: CompiledQuery
    try {
      compiled = toQuery(statement)
    } catch (err) {
      // A malformed statement rejects like every other failure instead of throwing.
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return this.execute<R>(compiled, options)
  }

  // Reactions rather than async functions: each await is a promise more, and more again with
  // AsyncLocalStorage's hooks on. A row-count error is thrown in a reaction the caller awaits,
  // so it keeps the caller's async stack frames.
  one<R = Row>(statement: Statement, options?: StatementOptions): Promise<R> {
    return this.#compileThen<R, R>(statement, options, (result, text) => exactlyOne(result, text))
  }

  maybeOne<R = Row>(statement: Statement, options?: StatementOptions): Promise<R | null> {
    return this.#compileThen<R, R | null>(statement, options, (result, text) => atMostOne(result, text))
  }

  many<R = Row>(statement: Statement, options?: StatementOptions): Promise<R[]> {
    return this.#compileThen<R, R[]>(statement, options, (result, text) => atLeastOne(result, text))
  }

  notify(channel: string, payload?: string): Promise<void> {
    let query: CompiledQuery
    try {
      checkChannel(channel, 'notify')
      query = toQuery(sql`SELECT pg_notify(${channel}, ${checkPayload(payload, 'notify')})`)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return this.execute(query, undefined).then(() => undefined)
  }

  #compileThen<R, T>(statement: Statement, options: StatementOptions | undefined, shape: (result: QueryResult<R>, text: string) => T): Promise<T> {
    let query: CompiledQuery
    try {
      query = toQuery(statement)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return this.execute<R>(query, options).then((result) => shape(result, query.text))
  }
}
