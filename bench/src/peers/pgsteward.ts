/**
 * pgsteward as the workloads use it: `db.query` / `db.transaction` for the SQL workloads, and
 * `db.session` and the pg.Pool facade for the pool-overhead, ownership-overhead and queueing workloads.
 */
import { createDatabase, sql } from 'pgsteward'
import type { StewardPgClient as Client } from 'pgsteward/pg'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer } from './peer.ts'

async function openPgsteward(url: string, poolMax: number, scopesInUse: boolean, statementCacheSize?: number): Promise<OpenPeer> {
  // Room for ten thousand queued acquirers to be served (well under a second normally).
  const db = createDatabase({ connectionString: url, pool: { max: poolMax, acquireTimeoutMs: 60_000 }, statementCacheSize })
  const facade = db.asPgPool()
  if (scopesInUse) await db.session(() => Promise.resolve())
  return {
    operations: {
      // A session that runs no statement borrows and returns a connection: the pool's own cost, through the public API.
      acquireRelease: () => db.session(() => Promise.resolve()),
      selectOne: () => db.query(sql`SELECT 1`),
      selectOneBypassingScopes: () => db.session((s) => s.query(sql`SELECT 1`)),
      readAccount: () => db.query(sql`SELECT * FROM bench_accounts WHERE id = ${randomAccountId()}`),
      updateAndReadAccount: () =>
        db.transaction(async (tx) => {
          const id = randomAccountId()
          await tx.query(sql`UPDATE bench_accounts SET balance = balance + 1 WHERE id = ${id}`)
          return tx.query(sql`SELECT * FROM bench_accounts WHERE id = ${id}`)
        }),
    },
    // The wait queue through the pg.Pool facade's connect/release: the public way to hold a connection across awaits.
    primitives: {
      acquire: () => facade.connect(),
      selectOne: (client: Client) => client.query('SELECT 1'),
      release(client: Client) {
        client.release()
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
