/**
 * Peers by id, with what the main thread needs to know about them (label, role) kept apart from
 * the libraries themselves: each library is imported only in its own worker thread.
 */
import type { PooledPeer } from './peer.ts'

export type PeerId = 'pgsteward' | 'pgsteward-app' | 'pg-pool' | 'pg-pool-pipelined' | 'postgres.js' | 'postgres.js-no-pipelining' | 'slonik'

/** `subject`: pgsteward, whose rows are compared; `peer`: the libraries it is compared with. */
export type PeerRole = 'subject' | 'peer'

export interface PeerInfo {
  label: string
  role: PeerRole
  /** What the row's figures mean beyond the label, shown under each table. */
  note?: string
}

export const PEERS: Record<PeerId, PeerInfo> = {
  pgsteward: { label: 'pgsteward', role: 'subject', note: 'no scope has run in its process' },
  'pgsteward-app': {
    label: 'pgsteward, as an application runs it',
    role: 'subject',
    note: 'one db.session ran first, as in any application using sessions or transactions: its AsyncLocalStorage is on (on Node 20 a promise hook on every promise in the process)',
  },
  'pg-pool': { label: 'pg-pool', role: 'peer', note: 'pg.Pool, statements awaited one by one' },
  'pg-pool-pipelined': {
    label: 'pg-pool, pipeline: true',
    role: 'peer',
    note: "pg.Pool with pg 8.23's pipeline: true; statements issued together go on one checked-out client",
  },
  'postgres.js': { label: 'postgres.js', role: 'peer', note: 'default pipelining (max_pipeline 100), named prepared statements' },
  'postgres.js-no-pipelining': { label: 'postgres.js, pipelining off', role: 'peer', note: 'undocumented option max_pipeline: 0, read in its source' },
  slonik: { label: 'Slonik', role: 'peer', note: 'defaults: DISCARD ALL on every connection returned to the pool' },
}

export async function loadPeer(id: PeerId): Promise<PooledPeer> {
  switch (id) {
    case 'pgsteward':
      return (await import('./pgsteward.ts')).pgstewardPeer
    case 'pgsteward-app':
      return (await import('./pgsteward.ts')).pgstewardApplicationPeer
    case 'pg-pool':
      return (await import('./pg-pool.ts')).pgPoolDefaultPeer
    case 'pg-pool-pipelined':
      return (await import('./pg-pool.ts')).pgPoolPipelinedPeer
    case 'postgres.js':
      return (await import('./postgres-js.ts')).postgresJsDefaultPeer
    case 'postgres.js-no-pipelining':
      return (await import('./postgres-js.ts')).postgresJsNoPipeliningPeer
    case 'slonik':
      return (await import('./slonik.ts')).slonikPeer
  }
}
