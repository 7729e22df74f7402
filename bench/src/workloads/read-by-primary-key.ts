/** Workload 4: read one row by primary key, the id passed as a parameter. */
import {
  NO_STATEMENT_CACHE_NOTE,
  PGBENCH_NOTE,
  PGSTEWARD,
  PGSTEWARD_NO_STATEMENT_CACHE,
  STATEMENT_CACHE_NOTE,
  pgbenchLabel,
  type ThroughputWorkload,
} from './workload.ts'

const SCRIPT = `\\set id random(1, 10000)
SELECT * FROM bench_accounts WHERE id = :id;
`

export function readByPrimaryKeyWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'read-by-primary-key',
    title: '4. Read one row by primary key',
    description: '`SELECT * FROM bench_accounts WHERE id = $1` with a random id of 10,000.',
    workers,
    entries: [
      { kind: 'pooled', label: PGSTEWARD, peer: 'pgsteward', operation: 'readAccount', note: STATEMENT_CACHE_NOTE },
      { kind: 'pooled', label: PGSTEWARD_NO_STATEMENT_CACHE, peer: 'pgsteward-no-statement-cache', operation: 'readAccount', note: NO_STATEMENT_CACHE_NOTE },
      { kind: 'pooled', label: 'pg-pool', peer: 'pg-pool', operation: 'readAccount' },
      { kind: 'pooled', label: 'postgres.js', peer: 'postgres.js', operation: 'readAccount', note: 'named prepared statements (its default)' },
      { kind: 'pooled', label: 'Slonik', peer: 'slonik', operation: 'readAccount', note: 'default resetConnection: DISCARD ALL after each query' },
      { kind: 'pgbench', label: pgbenchLabel('prepared'), protocol: 'prepared', script: SCRIPT, note: PGBENCH_NOTE },
    ],
  }
}
