/**
 * One connection string naming a primary and a standby: `target_session_attrs` picks the server,
 * with libpq's meaning. Uses DATABASE_URL (the primary) and REPLICA_URL (a standby) if both are
 * set; otherwise starts a throwaway primary and standby.
 */
import { createDatabase, sql } from 'pgsteward'
import { withPrimaryAndStandby } from './with-database.ts'

await withPrimaryAndStandby(async (primaryUrl, standbyUrl) => {
  // postgres://user:password@standby-host:port,primary-host:port/db: the standby first, on purpose.
  // (Written out: the URL class cannot hold several hosts.)
  const primary = new URL(primaryUrl)
  const standby = new URL(standbyUrl)
  const credentials = `${primary.username}:${primary.password}`
  const both = `${primary.protocol}//${credentials}@${standby.host},${primary.host}${primary.pathname}`
  for (const target of ['read-write', 'standby', 'prefer-standby', 'any']) {
    const url = `${both}?target_session_attrs=${target}`
    const db = createDatabase({ connectionString: url })
    const { standby } = await db.one<{ standby: boolean }>(sql`SELECT pg_is_in_recovery() AS standby`)
    console.log(`target_session_attrs=${target}: ${standby ? 'standby' : 'primary'}`)
    await db.close()
  }
})
