/** Borrow a connection and give it back, no statement: the pool's own cost. */
import type { ThroughputWorkload } from './workload.ts'

const NO_PRIMITIVE = 'no comparable primitive: connections are only lent inside a statement or a callback'

export function acquireReleaseWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'acquire-release',
    group: 'acquire-release',
    title: 'Acquire + release, no statement',
    description:
      "pgsteward `db.session(async () => {})` (a session that runs no statement still borrows and returns a connection) vs pg-pool `pool.connect()` / `client.release()`: the pool's own cost.",
    workers,
    subject: 'pgsteward-app',
    rows: [
      {
        peer: 'pgsteward-app',
        operation: 'acquireRelease',
        label: 'pgsteward',
        note: 'a session is a scope: AsyncLocalStorage is on, as in any application using sessions',
      },
      { peer: 'pg-pool', operation: 'acquireRelease' },
      { peer: 'postgres.js', operation: null, note: NO_PRIMITIVE },
      { peer: 'slonik', operation: null, note: NO_PRIMITIVE },
    ],
    pgbench: [],
  }
}
