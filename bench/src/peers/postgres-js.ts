/**
 * postgres.js, twice: with its default pipelining (up to `max_pipeline` = 100 statements written
 * to a busy connection before earlier ones answer), and with pipelining off.
 *
 * postgres.js has no documented switch for pipelining; its source (src/index.js parseOptions,
 * src/connection.js execute) reads an undocumented integer option `max_pipeline` and keeps a
 * connection writable while `sent.length < max_pipeline`. With 0 a connection counts as full
 * as soon as it has one statement in flight, so each statement waits for a connection of its own
 * (and inside `sql.begin`, statements issued together queue on the reserved connection).
 */
import postgres from 'postgres'
import { randomAccountId } from '../accounts.ts'
import type { OpenPeer, PooledPeer } from './peer.ts'

const TEN = Array.from({ length: 10 }, (_, i) => i)

function postgresJsPeer(pipelining: boolean): PooledPeer {
  return {
    open(url: string, poolMax: number): Promise<OpenPeer> {
      // `max_pipeline` is not in postgres.js's typings (see above), hence the widened type.
      const options: postgres.Options<Record<string, postgres.PostgresType>> & { max_pipeline?: number } = {
        max: poolMax,
        onnotice: () => undefined,
        connection: { application_name: 'pgsteward-bench' },
        ...(pipelining ? {} : { max_pipeline: 0 }),
      }
      const sql = postgres(url, options)
      const readAccount = (): Promise<unknown> => sql`SELECT * FROM bench_accounts WHERE id = ${randomAccountId()}`
      return Promise.resolve({
        operations: {
          selectOne: () => sql`SELECT 1`,
          readAccount,
          readTenAccounts: () => Promise.all(TEN.map(readAccount)),
          updateAndReadAccount: () =>
            sql.begin(async (tx) => {
              const id = randomAccountId()
              const [, read] = await Promise.all([
                tx`UPDATE bench_accounts SET balance = balance + 1 WHERE id = ${id}`,
                tx`SELECT * FROM bench_accounts WHERE id = ${id}`,
              ])
              return read
            }),
        },
        close: () => sql.end({ timeout: 5 }),
      })
    },
  }
}

export const postgresJsDefaultPeer = postgresJsPeer(true)
export const postgresJsNoPipeliningPeer = postgresJsPeer(false)
