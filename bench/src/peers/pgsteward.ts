/**
 * pgsteward as the workloads use it: `db.query` / `db.transaction` for the SQL workloads, and
 * the public `db.pool` for the pool-overhead, ownership-overhead and queueing workloads.
 */
import { createDatabase, sql, type Database } from 'pgsteward'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer } from './peer.ts'

type PooledConnection = Awaited<ReturnType<Database['pool']['acquire']>>

async function openPgsteward(url: string, poolMax: number, scopesInUse: boolean, statementCacheSize?: number): Promise<OpenPeer> {
  // Room for ten thousand queued acquirers to be served (well under a second normally).
  const db = createDatabase({ connectionString: url, pool: { max: poolMax, acquireTimeoutMs: 60_000 }, statementCacheSize })
  const pool = db.pool
  if (scopesInUse) await db.session(() => Promise.resolve())
  return {
    operations: {
      async acquireRelease() {
        pool.release(await pool.acquire())
      },
      selectOne: () => db.query(sql`SELECT 1`),
      async selectOneBypassingScopes() {
        const conn = await pool.acquire()
        try {
          return await conn.query({ text: 'SELECT 1' })
        } finally {
          pool.release(conn)
        }
      },
      readAccount: () => db.query(sql`SELECT * FROM bench_accounts WHERE id = ${randomAccountId()}`),
      updateAndReadAccount: () =>
        db.transaction(async (tx) => {
          const id = randomAccountId()
          await tx.query(sql`UPDATE bench_accounts SET balance = balance + 1 WHERE id = ${id}`)
          return tx.query(sql`SELECT * FROM bench_accounts WHERE id = ${id}`)
        }),
    },
    primitives: {
      acquire: () => pool.acquire(),
      selectOne(conn: PooledConnection) {
        return conn.query({ text: 'SELECT 1' })
      },
      release(conn: PooledConnection) {
        pool.release(conn)
      },
    },
    async close() {
      // close() also disables the database's AsyncLocalStorage, whose promise hook would otherwise
      // stay on in this peer's worker and slow every run after this one.
      await db.close({ timeoutMs: 5_000 })
    },
  }
}

/** pgsteward as measured against the targets. */
export const pgstewardPeer: PooledPeer = {
  label: 'pgsteward',
  open: (url, poolMax) => openPgsteward(url, poolMax, false),
}

/**
 * pgsteward after one `db.session`, as in any application that uses sessions or transactions:
 * on Node 20 that leaves the database's AsyncLocalStorage enabled, a promise hook installed for
 * the whole process, and every promise, any library's, then costs more. Shown for information.
 */
export const pgstewardScopesInUsePeer: PooledPeer = {
  label: 'pgsteward, AsyncLocalStorage on',
  open: (url, poolMax) => openPgsteward(url, poolMax, true),
}

/** pgsteward with its statement cache off: every statement unnamed, as pg-pool sends them. Shown for information. */
export const pgstewardNoStatementCachePeer: PooledPeer = {
  label: 'pgsteward, statementCacheSize 0',
  open: (url, poolMax) => openPgsteward(url, poolMax, false, 0),
}
