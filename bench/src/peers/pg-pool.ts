/**
 * pg-pool as node-postgres ships it (`pg.Pool`), twice: as most code uses it, and with pg 8.23's
 * opt-in `pipeline: true`, which lets one checked-out client send statements without waiting for
 * the previous answers. Pipelining is per client: `pool.query` still takes a client of its own for
 * each statement, so the pipelined peer checks out one client wherever statements are issued
 * together (a transaction, a request's ten reads), as its users would.
 */
import pg from 'pg'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer, WaitQueueProbe } from './peer.ts'

const TEN = Array.from({ length: 10 }, (_, i) => i)
const READ = 'SELECT * FROM bench_accounts WHERE id = $1'
const UPDATE = 'UPDATE bench_accounts SET balance = balance + 1 WHERE id = $1'

function pgPoolPeer(pipeline: boolean): PooledPeer {
  return {
    open(url: string, poolMax: number): Promise<OpenPeer> {
      // `pipeline` is a Client option (pg >= 8.23); the pool passes its options to each client.
      const pool = new pg.Pool({ connectionString: url, max: poolMax, application_name: 'pgsteward-bench', ...(pipeline ? { pipeline: true } : {}) })
      // An idle client's socket error is emitted on the pool; unheard, it would crash the run.
      pool.on('error', () => undefined)

      const readAccount = (): Promise<unknown> => pool.query(READ, [randomAccountId()])

      /** With the client released whatever happens, and destroyed when it failed mid-transaction. */
      const onClient = async <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
        const client = await pool.connect()
        let broken: Error | undefined
        try {
          return await work(client)
        } catch (err) {
          broken = err instanceof Error ? err : new Error(String(err))
          throw err
        } finally {
          client.release(broken)
        }
      }

      const updateAndReadAccount = pipeline
        ? // All four written at once: one round trip. A failure makes the later ones fail and COMMIT roll back.
          () =>
            onClient(async (client) => {
              const id = randomAccountId()
              const [, , read] = await Promise.all([client.query('BEGIN'), client.query(UPDATE, [id]), client.query(READ, [id]), client.query('COMMIT')])
              return read
            })
        : () =>
            onClient(async (client) => {
              const id = randomAccountId()
              await client.query('BEGIN')
              try {
                await client.query(UPDATE, [id])
                const read = await client.query(READ, [id])
                await client.query('COMMIT')
                return read
              } catch (err) {
                await client.query('ROLLBACK')
                throw err
              }
            })

      const readTenAccounts = pipeline
        ? () => onClient((client) => Promise.all(TEN.map(() => client.query(READ, [randomAccountId()]))))
        : () => Promise.all(TEN.map(readAccount))

      return Promise.resolve({
        operations: {
          async acquireRelease() {
            const client = await pool.connect()
            client.release()
          },
          selectOne: () => pool.query('SELECT 1'),
          readAccount,
          readTenAccounts,
          updateAndReadAccount,
        },
        waitQueue: connectWaitQueue(pool, poolMax),
        close: () => pool.end(),
      })
    },
  }
}

/** The wait queue as pg-pool's users meet it: `pool.connect()` promises. */
function connectWaitQueue(pool: pg.Pool, poolMax: number): WaitQueueProbe {
  let continuations: ((client: pg.PoolClient) => Promise<void>)[] = []
  return {
    async holdAll() {
      const clients = await Promise.all(Array.from({ length: poolMax }, () => pool.connect()))
      return () => {
        for (const client of clients) client.release()
        return Promise.resolve()
      }
    },
    prepare(count, onGranted) {
      continuations = Array.from({ length: count }, (_, index) => async (client: pg.PoolClient) => {
        onGranted(index)
        try {
          await client.query('SELECT 1')
        } finally {
          client.release()
        }
      })
    },
    enqueue: () => pool.connect(),
    served: async (index, queued) => {
      const continuation = continuations[index]
      if (continuation === undefined) throw new Error(`waiter ${index} was not prepared`)
      await continuation((await queued) as pg.PoolClient)
    },
  }
}

export const pgPoolDefaultPeer = pgPoolPeer(false)
export const pgPoolPipelinedPeer = pgPoolPeer(true)
