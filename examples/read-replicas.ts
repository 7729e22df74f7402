/**
 * Read replicas with read-your-writes: reads run on a standby, and never miss the caller's own
 * writes. Uses DATABASE_URL (the primary) and REPLICA_URL (a standby streaming from it) if both
 * are set; otherwise starts a throwaway primary and standby.
 */
import { createDatabase, sql } from 'pgsteward'
import { withPrimaryAndStandby } from './with-database.ts'

await withPrimaryAndStandby(async (primaryUrl, standbyUrl) => {
  const db = createDatabase({ connectionString: primaryUrl, replicas: [standbyUrl] })
  await db.query(sql`CREATE TABLE IF NOT EXISTS note (id serial PRIMARY KEY, body text NOT NULL)`)

  // One request writes, then reads: the read sees the write, on the standby once it has replayed
  // it, on the primary until then.
  await db.transaction((tx) => tx.query(sql`INSERT INTO note (body) VALUES (${'hello, replica'})`))
  const notes = await db.read((tx) => tx.many<{ body: string }>(sql`SELECT body FROM note ORDER BY id`))
  console.log('read your write:', notes.map((n) => n.body).join(', '))

  // Across requests: hand the token to the client (a cookie, a header); the next request passes it on.
  const token = await db.writeToken()
  const { n } = await db.read((tx) => tx.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM note`), { after: token })
  console.log(`after the token: ${n} note(s)`)

  const { onReplica, onPrimaryBehind } = db.readStats()
  console.log(`reads on the standby: ${onReplica}, on the primary while the standby caught up: ${onPrimaryBehind}`)
  await db.close()
})
