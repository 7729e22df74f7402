/**
 * What a pooled peer (pgsteward, pg-pool, postgres.js, Slonik) offers the workloads: a pool
 * opened for one run, the operations it can express, and, where the library lets a caller wait for
 * a connection, a probe of its wait queue. A workload names the operation; a peer without it is n/a.
 */
import type { Operation } from '../closed-loop.ts'

export type OperationName =
  /** Borrow a connection and give it back, no statement: the pool's own cost. */
  | 'acquireRelease'
  | 'selectOne'
  /** SELECT * FROM bench_accounts WHERE id = $1 with a random id. */
  | 'readAccount'
  /** One request: ten such reads of different random ids, issued together, all awaited. */
  | 'readTenAccounts'
  /** BEGIN; UPDATE one random account; SELECT it; COMMIT. */
  | 'updateAndReadAccount'

/**
 * The wait queue of a pool whose connections are all taken. `prepare` builds the callers' own
 * closures before the heap is read (they are the caller's memory, not the pool's); `enqueue` adds
 * waiter `index` (what the pool keeps for it is what the heap readings around it measure);
 * `served` attaches the rest of the caller's work to a queued waiter afterwards.
 * Each waiter calls `onGranted(index)` the moment it holds a connection, then runs SELECT 1 and
 * gives the connection back.
 */
export interface WaitQueueProbe {
  /** Take every connection of the pool; resolves when all are held, with what gives them back. */
  holdAll(): Promise<() => Promise<void>>
  prepare(count: number, onGranted: (index: number) => void): void
  enqueue(index: number): Promise<unknown>
  served(index: number, queued: Promise<unknown>): Promise<void>
}

export interface OpenPeer {
  operations: Partial<Record<OperationName, Operation>>
  waitQueue?: WaitQueueProbe
  /** Close the pool and undo anything it left in the process. */
  close(): Promise<void>
}

export interface PooledPeer {
  open(url: string, poolMax: number): Promise<OpenPeer>
}
