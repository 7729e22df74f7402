/** The pgsteward database the pgsteward variants use, closed after the census. */
import { createDatabase, type Database, type DatabaseOptions } from 'pgsteward'
import type { ScenarioContext } from './scenario.ts'

export function stewardDatabase(ctx: ScenarioContext, options: Omit<DatabaseOptions, 'connectionString' | 'applicationName'> = {}): Database {
  const db = createDatabase({ ...options, connectionString: ctx.databaseUrl, applicationName: ctx.applicationName, pool: { max: 10, ...options.pool } })
  ctx.recorder.watch(() => {
    const s = db.stats()
    return { inUse: s.inUse, waiting: s.waiting }
  })
  ctx.onCleanup(() => db.close({ timeoutMs: 2_000 }))
  return db
}
