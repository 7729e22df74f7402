/**
 * Behind PgBouncer in transaction mode: `pooler: 'transaction'` sends no named prepared
 * statements, keeps each transaction whole, and cancels through the pooler. Uses PGBOUNCER_URL
 * if set; otherwise starts a throwaway PgBouncer (Debian's `pgbouncer`) in front of DATABASE_URL.
 */
import { createDatabase, sql } from 'pgsteward'
import { startPgBouncer } from '@pgsteward/testkit'

async function withPgBouncer(run: (url: string) => Promise<void>): Promise<void> {
  if (process.env.PGBOUNCER_URL) return run(process.env.PGBOUNCER_URL)
  const target = process.env.DATABASE_URL
  if (!target) throw new Error('Set PGBOUNCER_URL, or DATABASE_URL for a PgBouncer of its own in front of it.')
  const bouncer = await startPgBouncer({ target, poolMode: 'transaction', stopAfterTest: false })
  try {
    await run(bouncer.url)
  } finally {
    await bouncer.stop()
  }
}

await withPgBouncer(async (url) => {
  const db = createDatabase({ connectionString: url, pooler: 'transaction', pool: { max: 5 } })
  await db.query(sql`CREATE TABLE IF NOT EXISTS counter (id int PRIMARY KEY, n int NOT NULL)`)
  await db.query(sql`INSERT INTO counter VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0`)
  // The same parameterised statement from many callers at once: no "prepared statement already exists".
  await Promise.all(Array.from({ length: 50 }, () => db.transaction((tx) => tx.query(sql`UPDATE counter SET n = n + ${1} WHERE id = ${1}`))))
  const { n } = await db.one<{ n: number }>(sql`SELECT n FROM counter WHERE id = 1`)
  console.log(`counter after 50 transactions: ${n}`)
  const cancelled = await db.query(sql`SELECT pg_sleep(30)`, { timeoutMs: 500 }).then(
    () => 'not cancelled',
    (err: unknown) => (err as Error).name,
  )
  console.log(`pg_sleep(30) with timeoutMs 500: ${cancelled}`)
  await db.close()
})
