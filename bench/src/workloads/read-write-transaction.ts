/** Workload 3: a short read-write transaction: BEGIN; UPDATE one random account; SELECT it; COMMIT. */
import { vacuumAccounts } from '../accounts.ts'
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
BEGIN;
UPDATE bench_accounts SET balance = balance + 1 WHERE id = :id;
SELECT * FROM bench_accounts WHERE id = :id;
COMMIT;
`

export function readWriteTransactionWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'read-write-transaction',
    title: '3. Short read-write transaction',
    description:
      'BEGIN; UPDATE bench_accounts SET balance = balance + 1 WHERE id = <random of 10,000>; SELECT it; COMMIT. pgsteward `db.transaction`, pg-pool by hand on a checked-out client, postgres.js `sql.begin`, Slonik `pool.transaction`. The table is vacuumed before every run.',
    workers,
    beforeEachRun: vacuumAccounts,
    entries: [
      { kind: 'pooled', label: PGSTEWARD, peer: 'pgsteward', operation: 'updateAndReadAccount', note: STATEMENT_CACHE_NOTE },
      { kind: 'pooled', label: PGSTEWARD_NO_STATEMENT_CACHE, peer: 'pgsteward-no-statement-cache', operation: 'updateAndReadAccount', note: NO_STATEMENT_CACHE_NOTE },
      { kind: 'pooled', label: 'pg-pool', peer: 'pg-pool', operation: 'updateAndReadAccount' },
      { kind: 'pooled', label: 'postgres.js', peer: 'postgres.js', operation: 'updateAndReadAccount' },
      { kind: 'pooled', label: 'Slonik', peer: 'slonik', operation: 'updateAndReadAccount', note: 'default resetConnection: DISCARD ALL after each transaction' },
      { kind: 'pgbench', label: pgbenchLabel('simple'), protocol: 'simple', script: SCRIPT, note: PGBENCH_NOTE },
      { kind: 'pgbench', label: pgbenchLabel('extended'), protocol: 'extended', script: SCRIPT, note: PGBENCH_NOTE },
    ],
  }
}
