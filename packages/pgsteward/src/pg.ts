/**
 * `import { Pool } from 'pgsteward/pg'`: pg.Pool's constructor and options, pgsteward
 * underneath, so migrating an application is a one-line import change.
 * @packageDocumentation
 */
import { createDatabaseFromResolved, type Database } from './database.js'
import { internalsOf } from './database-internals.js'
import { StewardPgPool } from './facade/pg-pool-facade.js'
import { fromPgPoolOptions, type PgPoolOptions } from './facade/pg-pool-options.js'
import { resolveOptions } from './options/validate-options.js'

/**
 * A drop-in for `pg.Pool`: the same constructor, `query`, `connect`, `end` and events, with
 * pgsteward's pool underneath (bounded waits, validation, leak detection, clean release). Its
 * `db` is the pgsteward database, for sessions, transactions, health and stats.
 * @example
 * ```ts
 * // before: import { Pool } from 'pg'
 * import { Pool } from 'pgsteward/pg'
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
 * const { rows } = await pool.query('select now()')
 * ```
 */
export class Pool extends StewardPgPool {
  /** The pgsteward database underneath, for sessions, transactions, health and stats. */
  readonly db: Database

  /**
   * Validates `options` and throws `ConfigError` listing every option it cannot honour.
   * @param options pg.Pool's options. (Default: `DATABASE_URL`, then libpq's `PG*` variables)
   */
  constructor(options?: PgPoolOptions) {
    const db = createDatabaseFromResolved(resolveOptions(fromPgPoolOptions(options)))
    super(db, { binary: options?.binary === true })
    this.db = db
    // As pg.Pool: a caller whose connection attempt failed hears why at once, instead of retries until its deadline.
    internalsOf(db).pool.setConnectFailurePolicy('fail-waiter')
  }
}

export type { PgPoolOptions } from './facade/pg-pool-options.js'
export type { StewardPgClient } from './facade/pg-client-facade.js'
export type { StewardPgPool, FacadePoolOptions } from './facade/pg-pool-facade.js'
