/** Prometheus metrics for a pgsteward database, scraped once. */
import { Registry } from 'prom-client'
import { createDatabase, sql } from 'pgsteward'
import { registerMetrics } from 'pgsteward/metrics'
import { withDatabase } from './with-database.ts'

await withDatabase(async (url) => {
  const db = createDatabase({ connectionString: url, pool: { max: 5 } })
  const registry = new Registry()
  registerMetrics(db, registry, { poolName: 'main' })
  await Promise.all(Array.from({ length: 20 }, () => db.query(sql`SELECT pg_sleep(0.01)`)))
  const text = await registry.metrics()
  console.log(
    text
      .split('\n')
      .filter((l) => l.startsWith('pgsteward_pool_acquisitions_total') || l.startsWith('pgsteward_pool_connections{'))
      .join('\n'),
  )
  await db.close()
})
