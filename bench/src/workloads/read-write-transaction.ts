/** A short read-write transaction: BEGIN; UPDATE one random account; SELECT it; COMMIT. */
import { vacuumAccounts } from '../accounts.ts'
import { pgbenchRow, pooledPeers, type ThroughputWorkload } from './workload.ts'

const STATEMENTS = `BEGIN;
UPDATE bench_accounts SET balance = balance + 1 WHERE id = :id;
SELECT * FROM bench_accounts WHERE id = :id;
COMMIT;
`
const SCRIPT = `\\set id random(1, 10000)\n${STATEMENTS}`
const PIPELINED_SCRIPT = `\\set id random(1, 10000)\n\\startpipeline\n${STATEMENTS}\\endpipeline\n`

export function readWriteTransactionWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'read-write-transaction',
    group: 'read-write-transaction',
    title: 'Short read-write transaction',
    description:
      'BEGIN; UPDATE bench_accounts SET balance = balance + 1 WHERE id = <random of 10,000>; SELECT it; COMMIT. The UPDATE and the SELECT issued together where the library allows: pgsteward `db.transaction` with `Promise.all` of two `tx.query`, postgres.js `sql.begin` likewise, pg-pool with `pipeline: true` all four statements at once on its client; pg-pool by hand and Slonik `pool.transaction` one statement after the other. The table is vacuumed before every run.',
    workers,
    subject: 'pgsteward-app',
    beforeEachRun: vacuumAccounts,
    rows: [
      { peer: 'pgsteward-app', operation: 'updateAndReadAccount', label: 'pgsteward', note: 'a transaction is a scope: AsyncLocalStorage is on' },
      ...pooledPeers('updateAndReadAccount').map((row) =>
        // With max_pipeline: 0 every sql.begin fails with UNSAFE_TRANSACTION (its BEGIN is answered
        // on a connection it no longer counts as reserved): there is no transaction to measure.
        row.peer === 'postgres.js-no-pipelining'
          ? { ...row, operation: null, note: 'max_pipeline: 0 breaks sql.begin (UNSAFE_TRANSACTION on every transaction): not measurable' }
          : row,
      ),
    ],
    pgbench: [pgbenchRow('prepared', workers, SCRIPT), pgbenchRow('prepared', workers, PIPELINED_SCRIPT, ' pipeline')],
  }
}
