/**
 * A throughput workload, declared as data: how many workers, which peers run which operation,
 * which pgbench scripts stand beside them, and which peers have nothing comparable (n/a).
 */
import type pg from 'pg'
import type { PgbenchProtocol } from '../pgbench.ts'
import type { OperationName } from '../peers/peer.ts'
import type { PeerId } from '../peers/registry.ts'

export interface PooledEntry {
  kind: 'pooled'
  label: string
  peer: PeerId
  operation: OperationName
  note?: string
}

export interface PgbenchEntry {
  kind: 'pgbench'
  label: string
  protocol: PgbenchProtocol
  script: string
  note?: string
}

export interface NotApplicableEntry {
  kind: 'n/a'
  label: string
  note: string
}

export type WorkloadEntry = PooledEntry | PgbenchEntry | NotApplicableEntry

export interface ThroughputWorkload {
  id: string
  title: string
  description: string
  workers: number
  entries: WorkloadEntry[]
  /** Before every run of every entry, so each finds the database in the same state. */
  beforeEachRun?: (admin: pg.Client) => Promise<void>
  /** Without pgbench rows of its own, the workload whose pgbench figures the last column uses. */
  pgbenchReferenceFrom?: string
}

/** Label of pgsteward's row, the numerator of the pgsteward/peer column. */
export const PGSTEWARD = 'pgsteward'

export const PGBENCH_NOTE = 'separate process, one real server connection per client (64): the server is its limit; not a pooled peer'

/** pgsteward after one db.session (see peers/pgsteward.ts), shown for information. */
export const PGSTEWARD_SCOPES_IN_USE = 'pgsteward, AsyncLocalStorage on'

export const ALS_ON_NOTE =
  'for information, not a target: after one db.session, as in any app using scopes; on Node 20 its AsyncLocalStorage then keeps a promise hook on for the whole process'

/** pgsteward with its statement cache off, shown for information next to the default. */
export const PGSTEWARD_NO_STATEMENT_CACHE = 'pgsteward, statementCacheSize 0'

export const STATEMENT_CACHE_NOTE = 'statement cache on (its default): each parameterised statement prepared once per connection, as postgres.js does'

export const NO_STATEMENT_CACHE_NOTE =
  'for information, not a target: every statement sent unnamed, parsed and planned each time, as pg-pool sends them (the setting for PgBouncer in transaction mode before 1.21)'

export function pgbenchLabel(protocol: PgbenchProtocol): string {
  return `pgbench -M ${protocol}`
}
