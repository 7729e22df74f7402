/** Workload 1: borrow a connection and give it back, no query: the pool's own overhead. */
import { ALS_ON_NOTE, PGSTEWARD, PGSTEWARD_SCOPES_IN_USE, type ThroughputWorkload } from './workload.ts'

const NO_PRIMITIVE = 'no comparable primitive: connections are only lent inside a query or a callback'

export function acquireReleaseWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'acquire-release',
    title: '1. Acquire + release, no query',
    description: 'pgsteward `db.pool.acquire()` / `db.pool.release(conn)` vs pg-pool `pool.connect()` / `client.release()`: pool overhead alone.',
    workers,
    entries: [
      { kind: 'pooled', label: PGSTEWARD, peer: 'pgsteward', operation: 'acquireRelease' },
      { kind: 'pooled', label: PGSTEWARD_SCOPES_IN_USE, peer: 'pgsteward-scopes-in-use', operation: 'acquireRelease', note: ALS_ON_NOTE },
      { kind: 'pooled', label: 'pg-pool', peer: 'pg-pool', operation: 'acquireRelease' },
      { kind: 'n/a', label: 'postgres.js', note: NO_PRIMITIVE },
      { kind: 'n/a', label: 'Slonik', note: NO_PRIMITIVE },
    ],
  }
}
