/**
 * Shared by the examples: DATABASE_URL if set (and REPLICA_URL, for those that need a standby),
 * otherwise a throwaway embedded PostgreSQL (or primary and standby), so every example runs on a
 * fresh machine with `npx tsx examples/<name>.ts`.
 */
import { startEmbeddedServer } from '@pgsteward/embedded-postgres'
import { startReplicatedPair } from '@pgsteward/testkit'

export async function withDatabase(run: (url: string) => Promise<void>): Promise<void> {
  if (process.env.DATABASE_URL) return run(process.env.DATABASE_URL)
  const server = await startEmbeddedServer()
  try {
    await run(server.url)
  } finally {
    await server.stop({ removeData: true })
  }
}

export async function withPrimaryAndStandby(run: (primaryUrl: string, standbyUrl: string) => Promise<void>): Promise<void> {
  if (process.env.DATABASE_URL && process.env.REPLICA_URL) return run(process.env.DATABASE_URL, process.env.REPLICA_URL)
  const pair = await startReplicatedPair({ stopAfterTest: false })
  try {
    await run(pair.primary.url, pair.standby.url)
  } finally {
    await pair.stop()
  }
}
