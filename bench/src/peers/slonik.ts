/**
 * Slonik 47 with its defaults apart from the pool size. Note those defaults: every connection
 * returned to the pool is reset with `DISCARD ALL` (its `resetConnection`), one more round trip
 * per implicit query or transaction; that is how Slonik is used out of the box. Its transaction
 * statements are awaited one by one, as its documentation writes them.
 */
import { createPool, sql } from 'slonik'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer } from './peer.ts'

const TEN = Array.from({ length: 10 }, (_, i) => i)

export const slonikPeer: PooledPeer = {
  async open(url: string, poolMax: number): Promise<OpenPeer> {
    const pool = await createPool(url, { maximumPoolSize: poolMax })
    const readAccount = (): Promise<unknown> => pool.query(sql.unsafe`SELECT * FROM bench_accounts WHERE id = ${randomAccountId()}`)
    return {
      operations: {
        selectOne: () => pool.query(sql.unsafe`SELECT 1`),
        readAccount,
        readTenAccounts: () => Promise.all(TEN.map(readAccount)),
        updateAndReadAccount: () =>
          pool.transaction(async (tx) => {
            const id = randomAccountId()
            await tx.query(sql.unsafe`UPDATE bench_accounts SET balance = balance + 1 WHERE id = ${id}`)
            return tx.query(sql.unsafe`SELECT * FROM bench_accounts WHERE id = ${id}`)
          }),
      },
      close: () => pool.end(),
    }
  },
}
