/**
 * A request that needs ten independent rows: ten one-shot reads by primary key issued together
 * (`Promise.all`), the request done when all ten are. One operation is one request. Libraries
 * that pipeline send the ten on busy connections without waiting; pg-pool with `pipeline: true`
 * checks out one client and pipelines the ten on it, as its users would.
 */
import { pgbenchRow, pgstewardRows, pooledPeers, type ThroughputWorkload } from './workload.ts'

const IDS = Array.from({ length: 10 }, (_, i) => i + 1)
const SCRIPT = [
  ...IDS.map((i) => `\\set id${i} random(1, 10000)`),
  '\\startpipeline',
  ...IDS.map((i) => `SELECT * FROM bench_accounts WHERE id = :id${i};`),
  '\\endpipeline',
  '',
].join('\n')

export function tenReadsWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'ten-reads',
    group: 'ten-reads',
    title: 'A request of ten independent reads',
    description:
      'Ten `SELECT * FROM bench_accounts WHERE id = $1` (random ids) issued together and awaited together: pgsteward `Promise.all` of ten `db.query`, pg-pool ten `pool.query` (pipelined: ten `client.query` on one client), postgres.js ten ``sql`...` ``, Slonik ten `pool.query`. Throughput in requests per second; pgbench sends the ten in one pipeline.',
    workers,
    subject: 'pgsteward',
    rows: [...pgstewardRows('readTenAccounts'), ...pooledPeers('readTenAccounts')],
    pgbench: [pgbenchRow('prepared', workers, SCRIPT, ' pipeline')],
  }
}
