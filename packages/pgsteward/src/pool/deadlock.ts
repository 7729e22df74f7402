/**
 * Pool deadlock: code that holds connections waits for another one that only its own kind can
 * give back. Detected when it happens, instead of when the acquire times out.
 */
import type { ConnectionStates } from './connection-states.js'
import type { PooledConnection } from './pooled-connection.js'

/**
 * Whether waiting can never end: nothing is idle, being opened, shared, cleaned or checked, the
 * pool is at `max`, and every lent connection is held by the asking chain of scopes (`held`) or
 * by chains that are themselves waiting (`heldByWaiters`). No holder can ever give one back.
 */
export function waitCannotEnd(
  states: ConnectionStates,
  max: number,
  held: readonly PooledConnection[],
  heldByWaiters: (each: (conn: PooledConnection) => void) => void,
): boolean {
  if (held.length === 0) return false
  const s = states
  if (s.idle.length > 0 || s.connecting.size > 0 || s.shared.size > 0 || s.resetting.size > 0 || s.validating.size > 0) return false
  if (s.total < max) return false
  const stuck = new Set<PooledConnection>(held)
  heldByWaiters((conn) => stuck.add(conn))
  for (const conn of s.exclusive) if (!stuck.has(conn)) return false
  return true
}
