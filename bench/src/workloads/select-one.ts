/**
 * Workload 2: `SELECT 1`, the round trip with the least server work, so client overhead shows.
 * Run with 64 workers and again with 1000, far more than the pool's ten connections.
 */
import { PGBENCH_NOTE, PGSTEWARD, pgbenchLabel, type ThroughputWorkload, type WorkloadEntry } from './workload.ts'

const POOLED_PEERS: WorkloadEntry[] = [
  { kind: 'pooled', label: PGSTEWARD, peer: 'pgsteward', operation: 'selectOne' },
  { kind: 'pooled', label: 'pg-pool', peer: 'pg-pool', operation: 'selectOne' },
  { kind: 'pooled', label: 'postgres.js', peer: 'postgres.js', operation: 'selectOne', note: 'default pipelining (max_pipeline 100)' },
  {
    kind: 'pooled',
    label: 'postgres.js (pipelining off)',
    peer: 'postgres.js-no-pipelining',
    operation: 'selectOne',
    note: 'undocumented option max_pipeline: 0 (read from its source)',
  },
  { kind: 'pooled', label: 'Slonik', peer: 'slonik', operation: 'selectOne', note: 'default resetConnection: DISCARD ALL after each query' },
]

export const SELECT_ONE_ID = 'select-one'

export function selectOneWorkload(workers: number): ThroughputWorkload {
  return {
    id: SELECT_ONE_ID,
    title: `2a. SELECT 1, ${workers} workers`,
    description: "pgsteward ``db.query(sql`SELECT 1`)``, pg-pool `pool.query('SELECT 1')`, postgres.js ``sql`SELECT 1` ``, Slonik ``pool.query(sql.unsafe`SELECT 1`)``; pgbench with a `SELECT 1;` script.",
    workers,
    entries: [
      ...POOLED_PEERS,
      { kind: 'pgbench', label: pgbenchLabel('simple'), protocol: 'simple', script: 'SELECT 1;\n', note: PGBENCH_NOTE },
      { kind: 'pgbench', label: pgbenchLabel('prepared'), protocol: 'prepared', script: 'SELECT 1;\n', note: PGBENCH_NOTE },
    ],
  }
}

export function selectOneManyWorkersWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'select-one-many-workers',
    title: `2b. SELECT 1, ${workers} workers`,
    description: `The same with ${workers} concurrent workers queued on each pool of ten. pgbench is not run with ${workers} clients (that many server connections would exceed max_connections); the last column uses workload 2a's pgbench.`,
    workers,
    entries: POOLED_PEERS,
    pgbenchReferenceFrom: SELECT_ONE_ID,
  }
}
