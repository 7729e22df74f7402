/**
 * Peers by name, so that workloads (in the main thread) can name a peer that only its own
 * worker thread loads: each library is imported in its worker alone.
 */
import type { PooledPeer } from './peer.ts'

export type PeerId =
  | 'pgsteward'
  | 'pgsteward-scopes-in-use'
  | 'pgsteward-no-statement-cache'
  | 'pg-pool' | 'postgres.js' | 'postgres.js-no-pipelining' | 'slonik'

export async function loadPeer(id: PeerId): Promise<PooledPeer> {
  switch (id) {
    case 'pgsteward':
      return (await import('./pgsteward.ts')).pgstewardPeer
    case 'pgsteward-scopes-in-use':
      return (await import('./pgsteward.ts')).pgstewardScopesInUsePeer
    case 'pgsteward-no-statement-cache':
      return (await import('./pgsteward.ts')).pgstewardNoStatementCachePeer
    case 'pg-pool':
      return (await import('./pg-pool.ts')).pgPoolPeer
    case 'postgres.js':
      return (await import('./postgres-js.ts')).postgresJsDefaultPeer
    case 'postgres.js-no-pipelining':
      return (await import('./postgres-js.ts')).postgresJsNoPipeliningPeer
    case 'slonik':
      return (await import('./slonik.ts')).slonikPeer
  }
}
