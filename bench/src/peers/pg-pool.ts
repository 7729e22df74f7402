/** pg-pool (node-postgres's pool) used the documented way, transactions written by hand. */
import pg from 'pg'
import Pool from 'pg-pool'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer } from './peer.ts'

type PoolClient = pg.Client & pg.PoolClient

export const pgPoolPeer: PooledPeer = {
  label: 'pg-pool',
  open(url: string, poolMax: number): Promise<OpenPeer> {
    const pool = new Pool<pg.Client>({ connectionString: url, max: poolMax, Client: pg.Client })
    // An idle client's socket error is emitted on the pool; unheard, it would crash the run.
    pool.on('error', () => undefined)

    const updateAndReadAccount = async (): Promise<unknown> => {
      const id = randomAccountId()
      const client = await pool.connect()
      let broken: Error | undefined
      try {
        await client.query('BEGIN')
        await client.query('UPDATE bench_accounts SET balance = balance + 1 WHERE id = $1', [id])
        const result = await client.query('SELECT * FROM bench_accounts WHERE id = $1', [id])
        await client.query('COMMIT')
        return result
      } catch (err) {
        // A client whose ROLLBACK fails is in an unknown state: destroy it rather than reuse it.
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
        })
        throw err
      } finally {
        client.release(broken)
      }
    }

    return Promise.resolve({
      operations: {
        async acquireRelease() {
          const client = await pool.connect()
          client.release()
        },
        selectOne: () => pool.query('SELECT 1'),
        readAccount: () => pool.query('SELECT * FROM bench_accounts WHERE id = $1', [randomAccountId()]),
        updateAndReadAccount,
      },
      primitives: {
        acquire: () => pool.connect(),
        selectOne(client: PoolClient) {
          return client.query('SELECT 1')
        },
        release(client: PoolClient) {
          client.release()
        },
      },
      close: () => pool.end(),
    })
  },
}
