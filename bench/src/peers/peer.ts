/**
 * What a pooled peer (pgsteward, pg-pool, postgres.js, Slonik) offers the workloads: a pool
 * opened for one run, the operations it can express, and, where the library has them, the bare
 * acquire / release primitives. A workload names the operation; a peer without it is n/a.
 */
import type { Operation } from '../closed-loop.ts'

export type OperationName =
  /** Borrow a connection and give it back, no query: the pool's own overhead. */
  | 'acquireRelease'
  | 'selectOne'
  /** pgsteward only: SELECT 1 through `db.pool` directly, skipping the scope / ownership layer. */
  | 'selectOneBypassingScopes'
  /** SELECT * FROM bench_accounts WHERE id = $1 with a random id. */
  | 'readAccount'
  /** BEGIN; UPDATE one random account; SELECT it; COMMIT. */
  | 'updateAndReadAccount'

/**
 * A pool's own acquire and release, unwrapped: the fairness and memory workload measures the
 * heap of the promises these return, so nothing may be allocated around them.
 * Method syntax on purpose: each peer narrows `conn` to its own connection type.
 */
export interface ConnectionPrimitives {
  acquire(): Promise<unknown>
  selectOne(conn: unknown): Promise<unknown>
  release(conn: unknown): void
}

export interface OpenPeer {
  operations: Partial<Record<OperationName, Operation>>
  primitives?: ConnectionPrimitives
  /** Close the pool and undo anything it left in the process. */
  close(): Promise<void>
}

export interface PooledPeer {
  label: string
  open(url: string, poolMax: number): Promise<OpenPeer>
}
