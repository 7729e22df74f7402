/**
 * Shared by the examples: DATABASE_URL if set, otherwise a throwaway embedded PostgreSQL, so every
 * example runs on a fresh machine with `npx tsx examples/<name>.ts`.
 */
import { startEmbeddedServer } from '@pgsteward/embedded-postgres'

export async function withDatabase(run: (url: string) => Promise<void>): Promise<void> {
  if (process.env.DATABASE_URL) return run(process.env.DATABASE_URL)
  const server = await startEmbeddedServer()
  try {
    await run(server.url)
  } finally {
    await server.stop({ removeData: true })
  }
}
