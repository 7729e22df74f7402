/**
 * pgsteward through its public API only, as an application uses it: `db.query` for one-shot
 * statements, `db.transaction`, `db.session`, `db.close`. Two variants, each in a worker of its own:
 *
 * - `pgstewardPeer`: one-shot statements in a process where no scope ever ran, so on Node 20 no
 *   AsyncLocalStorage promise hook is on. Its worker never runs a session or transaction.
 * - `pgstewardApplicationPeer`: every run starts with one empty `db.session`, as in any
 *   application that uses sessions or transactions: the database's AsyncLocalStorage has run, and
 *   on Node 20 its promise hook then slows every promise in the process, any library's.
 *   Acquire + release, transactions and the wait queue are scopes themselves, so they run here.
 */
import { createDatabase, sql, type Database } from 'pgsteward'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer, WaitQueueProbe } from './peer.ts'

const TEN = Array.from({ length: 10 }, (_, i) => i)
const emptyScope = async (): Promise<void> => undefined

function openDatabase(url: string, poolMax: number): Database {
  // Room for ten thousand queued waiters to be served (well under a second normally).
  return createDatabase({ connectionString: url, applicationName: 'pgsteward-bench', pool: { max: poolMax, acquireTimeoutMs: 60_000 } })
}

function oneShotOperations(db: Database): OpenPeer['operations'] {
  const readAccount = (): Promise<unknown> => db.query(sql`SELECT * FROM bench_accounts WHERE id = ${randomAccountId()}`)
  return {
    selectOne: () => db.query(sql`SELECT 1`),
    readAccount,
    readTenAccounts: () => Promise.all(TEN.map(readAccount)),
  }
}

export const pgstewardPeer: PooledPeer = {
  open(url, poolMax) {
    const db = openDatabase(url, poolMax)
    return Promise.resolve({ operations: oneShotOperations(db), close: () => db.close({ timeoutMs: 5_000 }) })
  },
}

export const pgstewardApplicationPeer: PooledPeer = {
  async open(url, poolMax) {
    const db = openDatabase(url, poolMax)
    await db.session(emptyScope)
    return {
      operations: {
        ...oneShotOperations(db),
        // A session that runs no statement still borrows a connection and gives it back.
        acquireRelease: () => db.session(emptyScope),
        // Issued together: both belong to one scope, which keeps their order.
        updateAndReadAccount: () =>
          db.transaction(async (tx) => {
            const id = randomAccountId()
            const [, read] = await Promise.all([
              tx.query(sql`UPDATE bench_accounts SET balance = balance + 1 WHERE id = ${id}`),
              tx.query(sql`SELECT * FROM bench_accounts WHERE id = ${id}`),
            ])
            return read
          }),
      },
      waitQueue: sessionWaitQueue(db, poolMax),
      close: () => db.close({ timeoutMs: 5_000 }),
    }
  },
}

/** The wait queue as an application meets it: sessions waiting for a connection. */
function sessionWaitQueue(db: Database, poolMax: number): WaitQueueProbe {
  let scopes: (() => Promise<void>)[] = []
  return {
    async holdAll() {
      let open!: () => void
      const gate = new Promise<void>((resolve) => (open = resolve))
      let holding = 0
      let allHeld!: () => void
      const held = new Promise<void>((resolve) => (allHeld = resolve))
      const holders = Array.from({ length: poolMax }, () =>
        db.session(async () => {
          if (++holding === poolMax) allHeld()
          await gate
        }),
      )
      await held
      return async () => {
        open()
        await Promise.all(holders)
      }
    },
    prepare(count, onGranted) {
      scopes = Array.from({ length: count }, (_, index) => async () => {
        onGranted(index)
        await db.query(sql`SELECT 1`)
      })
    },
    enqueue: (index) => db.session(scopes[index] ?? emptyScope),
    served: async (_index, queued) => {
      await queued
    },
  }
}
