/**
 * A throughput workload, declared as data: how many workers, which peers run which operation
 * (on every Node version of the run), which pgbench scripts stand beside them as the server's
 * limit, and which peers have nothing comparable (n/a).
 */
import type pg from 'pg'
import type { PgbenchProtocol } from '../pgbench.ts'
import type { OperationName } from '../peers/peer.ts'
import type { PeerId } from '../peers/registry.ts'

export interface RowSpec {
  peer: PeerId
  /** null: the peer has nothing comparable; shown as n/a with the note saying why. */
  operation: OperationName | null
  /** Instead of the peer's own label, where the row means something narrower. */
  label?: string
  note?: string
}

export interface PgbenchSpec {
  label: string
  protocol: PgbenchProtocol
  script: string
  clients: number
  note?: string
}

export interface ThroughputWorkload {
  id: string
  group: string
  title: string
  description: string
  workers: number
  rows: RowSpec[]
  pgbench: PgbenchSpec[]
  /** The pgsteward row the targets judge (pgsteward as an application runs it, where the workload is a scope). */
  subject: PeerId
  /** Before every run of every row, so each finds the database in the same state. */
  beforeEachRun?: (admin: pg.Client) => Promise<void>
  /** Without pgbench rows of its own: the group whose best pgbench figure the last column uses. */
  pgbenchReferenceGroup?: string
}

const PGBENCH_NOTE = 'a separate process, one real server connection per client: the server is its limit; not a pooled peer'

export function pgbenchRow(protocol: PgbenchProtocol, clients: number, script: string, what = ''): PgbenchSpec {
  return { label: `pgbench -M ${protocol}${what} -c ${clients}`, protocol, script, clients, note: PGBENCH_NOTE }
}

/** The five pooled peers with the same operation, each its own row. */
export function pooledPeers(operation: OperationName): RowSpec[] {
  return [
    { peer: 'pg-pool', operation },
    { peer: 'pg-pool-pipelined', operation },
    { peer: 'postgres.js', operation },
    { peer: 'postgres.js-no-pipelining', operation },
    { peer: 'slonik', operation },
  ]
}

/** pgsteward as the targets measure it and as an application runs it, for one-shot statements. */
export function pgstewardRows(operation: OperationName): RowSpec[] {
  return [
    { peer: 'pgsteward', operation },
    { peer: 'pgsteward-app', operation },
  ]
}
