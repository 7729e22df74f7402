/**
 * On first connect, compare `pool.max` with the connections the server can still give: a pool
 * that can only fail under production load is a configuration error, reported at start-up.
 * Skipped behind a pooler, whose server-side numbers say nothing about the client side.
 */
import { runSimple } from '../wire/run-simple.js'
import type { WireConnection } from '../wire/wire-connection.js'

interface CapacityRow {
  max_connections: number
  reserved: number
  in_use: number
}

/** Returns a description of the problem, or undefined when `max` fits. */
export async function checkServerCapacity(conn: WireConnection, max: number, timeoutMs: number): Promise<string | undefined> {
  const result = await runSimple(
    conn,
    `SELECT current_setting('max_connections')::int AS max_connections,
            current_setting('superuser_reserved_connections')::int
              + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int AS reserved,
            (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS in_use`,
    timeoutMs,
  )
  const row = result.rows[0] as CapacityRow | undefined
  if (row === undefined) return undefined
  // This connection is already counted in in_use and is one of the pool's own.
  const available = row.max_connections - row.reserved - row.in_use + 1
  if (max <= available) return undefined
  return (
    `pool.max is ${max} but the server can give at most ${available} more connections ` +
    `(max_connections ${row.max_connections}, reserved ${row.reserved}, in use ${row.in_use}). ` +
    "Under load the pool would fail to open connections. Lower pool.max, raise max_connections on the server, or put a connection pooler in front of it (pooler: 'transaction')."
  )
}
