/** Read one row by primary key, the id passed as a parameter. */
import { pgbenchRow, pgstewardRows, pooledPeers, type ThroughputWorkload } from './workload.ts'

const SCRIPT = `\\set id random(1, 10000)
SELECT * FROM bench_accounts WHERE id = :id;
`

export function readByPrimaryKeyWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'read-by-primary-key',
    group: 'read-by-primary-key',
    title: 'Read one row by primary key',
    description: '`SELECT * FROM bench_accounts WHERE id = $1` with a random id of 10,000, as a one-shot statement of each library.',
    workers,
    subject: 'pgsteward',
    rows: [...pgstewardRows('readAccount'), ...pooledPeers('readAccount')],
    pgbench: [pgbenchRow('prepared', workers, SCRIPT)],
  }
}
