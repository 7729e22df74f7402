/**
 * Borrow, run, return: the one way work reaches a connection. One-shot statements (`db.query`
 * outside a scope, the facade's `pool.query`, the health check) borrow for one entry on the wire;
 * scopes and facade checkouts borrow a lease. Either way the pool is told exactly when the
 * connection is free again, and decides alone whether it is clean, needs a reset, or must go.
 */
import type { Pool } from '../pool/pool.js'
import type { AcquireRequest } from '../pool/waiters.js'
import type { PooledConnection } from '../pool/pooled-connection.js'
import type { CallSite } from './call-site.js'
import { Lease, type LeaseKind } from './lease.js'

/**
 * Borrow a connection for one piece of work. `run` gets the connection and a `giveBack` to call
 * when the work is over on the wire (calling it again does nothing). A `shareable` borrower may
 * be pipelined with other callers' one-shot statements.
 */
export function borrowOnce(
  pool: Pool,
  request: AcquireRequest | undefined,
  shareable: boolean,
  run: (conn: PooledConnection, giveBack: () => void) => void,
  fail: (err: Error) => void,
): void {
  const traced = pool.instrumentation.acquire({ kind: shareable ? 'shared' : 'exclusive' })
  const grant = (conn: PooledConnection): void => {
    traced?.({ error: undefined, connectionId: conn.id })
    let returned = false
    run(conn, () => {
      if (returned) return
      returned = true
      if (shareable) pool.releaseShared(conn)
      else pool.release(conn)
    })
  }
  const failed =
    traced === undefined
      ? fail
      : (err: Error): void => {
          traced({ error: err, connectionId: undefined })
          fail(err)
        }
  if (shareable) pool.acquireShared(request, grant, failed)
  else pool.acquire(request, grant, failed)
}

/**
 * Borrow a connection for a scope or a checkout: `grant` gets a lease, synchronously when an
 * idle connection needs no check. `outer` is what the asking chain of scopes already holds.
 */
export function borrowLease(
  pool: Pool,
  kind: LeaseKind,
  site: CallSite | undefined,
  request: AcquireRequest | undefined,
  outer: readonly PooledConnection[],
  grant: (lease: Lease) => void,
  fail: (err: Error) => void,
): void {
  const traced = pool.instrumentation.acquire({ kind: 'exclusive' })
  pool.acquire(
    { ...request, site, heldBy: outer },
    (conn) => {
      traced?.({ error: undefined, connectionId: conn.id })
      grant(new Lease(pool, conn, kind, site, outer))
    },
    (err) => {
      traced?.({ error: err, connectionId: undefined })
      fail(err)
    },
  )
}

/** `borrowLease` as a promise. */
export function openLease(
  pool: Pool,
  kind: LeaseKind,
  site: CallSite | undefined,
  request: AcquireRequest | undefined,
  outer: readonly PooledConnection[],
): Promise<Lease> {
  return new Promise((resolve, reject) => borrowLease(pool, kind, site, request, outer, resolve, reject))
}
