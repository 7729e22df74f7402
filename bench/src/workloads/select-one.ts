/**
 * `SELECT 1`, the round trip with the least server work, so client overhead shows; over a sweep
 * of concurrency on a pool of ten, from one worker (pure latency) to 4000 (a deep queue, where
 * pipelining onto busy connections pays).
 */
import { pgbenchRow, pgstewardRows, pooledPeers, type ThroughputWorkload } from './workload.ts'

export const SELECT_ONE_GROUP = 'select-one'

export function selectOneWorkload(workers: number, pgbenchMaxClients: number): ThroughputWorkload {
  const pgbench = workers <= pgbenchMaxClients
  return {
    id: `${SELECT_ONE_GROUP}-${workers}`,
    group: SELECT_ONE_GROUP,
    title: `SELECT 1, ${workers.toLocaleString('en-US')} worker${workers === 1 ? '' : 's'}`,
    description:
      "pgsteward ``db.query(sql`SELECT 1`)``, pg-pool `pool.query('SELECT 1')`, postgres.js ``sql`SELECT 1` ``, Slonik ``pool.query(sql.unsafe`SELECT 1`)``" +
      (pgbench
        ? '; pgbench with a `SELECT 1;` script, one connection per worker.'
        : `; no pgbench row (${workers} server connections, each a process of its own on two cores): the last column uses the sweep's best pgbench figure.`),
    workers,
    subject: 'pgsteward',
    rows: [...pgstewardRows('selectOne'), ...pooledPeers('selectOne')],
    pgbench: pgbench ? [pgbenchRow('prepared', workers, 'SELECT 1;\n')] : [],
    pgbenchReferenceGroup: SELECT_ONE_GROUP,
  }
}
