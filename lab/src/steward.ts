/** The pgsteward database the pgsteward variants use, closed after the census. */
import { createDatabase, type Database, type DatabaseOptions } from 'pgsteward'
import type { ScenarioContext } from './scenario.ts'

export function stewardDatabase(
  ctx: ScenarioContext,
  options: Omit<DatabaseOptions, 'connectionString' | 'applicationName'> = {},
  connectionString = ctx.databaseUrl,
): Database {
  const db = createDatabase({ ...options, connectionString, applicationName: ctx.applicationName, pool: { max: 10, ...options.pool } })
  ctx.recorder.watch(() => {
    const s = db.stats()
    return { inUse: s.inUse, waiting: s.waiting }
  })
  ctx.onCleanup(() => db.close({ timeoutMs: 2_000 }))
  return db
}

/**
 * What this build of pgsteward says about options a scenario needs: undefined when createDatabase
 * accepts them, else the first problem it names. Asked of the library itself, so a scenario waiting
 * for an option starts running the day the option exists. Nothing connects: the pool opens lazily.
 */
export async function stewardRefuses(options: DatabaseOptions): Promise<string | undefined> {
  let db: Database
  try {
    db = createDatabase(options)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const lines = message.split('\n').map((line) => line.replace(/^\s*-\s*/, '').trim())
    return lines.find((line, i) => i > 0 && line.length > 0) ?? lines[0]
  }
  await db.close({ timeoutMs: 1_000 })
  return undefined
}
