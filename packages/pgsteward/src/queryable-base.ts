/**
 * `query`, `one`, `maybeOne` and `many`, written once over a single `execute` that the
 * database and every scope provide.
 */
import { atLeastOne, atMostOne, exactlyOne, type QueryResult, type Row } from './query-result.ts'
import type { Queryable, Statement } from './scope.ts'
import { toQuery, type CompiledQuery } from './sql.ts'

export abstract class QueryableBase implements Queryable {
  /** Run an already compiled statement; `query` is the public way in. */
  abstract execute<R>(query: CompiledQuery): Promise<QueryResult<R>>

  query<R = Row>(statement: Statement): Promise<QueryResult<R>> {
    let compiled: CompiledQuery
    try {
      compiled = toQuery(statement)
    } catch (err) {
      // A malformed statement rejects like every other failure instead of throwing.
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    return this.execute<R>(compiled)
  }

  async one<R = Row>(statement: Statement): Promise<R> {
    const query = toQuery(statement)
    return exactlyOne(await this.execute<R>(query), query.text)
  }

  async maybeOne<R = Row>(statement: Statement): Promise<R | null> {
    const query = toQuery(statement)
    return atMostOne(await this.execute<R>(query), query.text)
  }

  async many<R = Row>(statement: Statement): Promise<R[]> {
    const query = toQuery(statement)
    return atLeastOne(await this.execute<R>(query), query.text)
  }
}
