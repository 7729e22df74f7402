/**
 * postgres.js, twice: with its default pipelining (up to `max_pipeline` = 100 queries written
 * to a busy connection before earlier ones answer), and with pipelining off.
 *
 * postgres.js has no documented switch for pipelining; its source (src/index.js parseOptions,
 * src/connection.js execute) reads an undocumented integer option `max_pipeline` and keeps a
 * connection writable while `sent.length < max_pipeline`. With 0 a connection counts as full
 * as soon as it has one query in flight, so each query waits for a connection of its own.
 */
import postgres from 'postgres'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer } from './peer.ts'

function postgresJsPeer(label: string, pipelining: boolean): PooledPeer {
  return {
    label,
    open(url: string, poolMax: number): Promise<OpenPeer> {
      // `max_pipeline` is not in postgres.js's typings (see above), hence the widened type.
      const options: postgres.Options<Record<string, postgres.PostgresType>> & { max_pipeline?: number } = {
        max: poolMax,
        onnotice: () => undefined,
        ...(pipelining ? {} : { max_pipeline: 0 }),
      }
      const sql = postgres(url, options)
      return Promise.resolve({
        operations: {
          selectOne: () => sql`SELECT 1`,
          readAccount: () => sql`SELECT * FROM bench_accounts WHERE id = ${randomAccountId()}`,
          updateAndReadAccount: () =>
            sql.begin(async (tx) => {
              const id = randomAccountId()
              await tx`UPDATE bench_accounts SET balance = balance + 1 WHERE id = ${id}`
              return tx`SELECT * FROM bench_accounts WHERE id = ${id}`
            }),
        },
        close: () => sql.end({ timeout: 5 }),
      })
    },
  }
}

export const postgresJsDefaultPeer = postgresJsPeer('postgres.js', true)
export const postgresJsNoPipeliningPeer = postgresJsPeer('postgres.js (pipelining off)', false)
