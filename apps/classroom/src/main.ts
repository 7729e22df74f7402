/**
 * `npm start`: validate the configuration, start an embedded PostgreSQL whose data persists under
 * DATA_DIR (or use DATABASE_URL), migrate, serve. SIGTERM/SIGINT: stop accepting, close
 * WebSockets with 1001, finish in-flight requests, drain the pool, stop the embedded server, exit 0.
 */
import path from 'node:path'
import pg from 'pg'
import { freePort, startEmbeddedServer, type EmbeddedServer } from '@pgsteward/embedded-postgres'
import { ConfigError, createDatabase } from 'pgsteward'
import { buildApp } from './app.ts'
import { ConfigurationError, loadConfig, type Config } from './config.ts'
import { migrateUp } from './migrate.ts'

const DATABASE_NAME = 'classroom'

function fail(message: string): never {
  console.error(message)
  process.exit(1)
}

async function ensureDatabase(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME])
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE_NAME}`)
  } finally {
    await client.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${DATABASE_NAME}`
  return url.toString()
}

async function startDatabaseServer(config: Config): Promise<{ url: string; server: EmbeddedServer | undefined }> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, server: undefined }
  const server = await startEmbeddedServer({ dataDir: path.join(config.dataDir, 'postgres'), port: await freePort(), onLog: () => undefined })
  // embedded-postgres installs SIGINT/SIGTERM handlers that stop the server and exit at once;
  // this service shuts down in order instead (requests first, database last), so they go.
  process.removeAllListeners('SIGINT')
  process.removeAllListeners('SIGTERM')
  return { url: await ensureDatabase(server.url), server }
}

async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigurationError) fail(err.message)
    throw err
  }
  const { url, server } = await startDatabaseServer(config)
  const db = (() => {
    try {
      return createDatabase({ connectionString: url, applicationName: 'classroom', pool: { max: config.dbPoolMax, leakDetectionMs: 30_000 } })
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message)
      throw err
    }
  })()
  await db.ready()
  const applied = await migrateUp(db)
  const app = await buildApp({ config, db })
  db.on('leak', (leak) => app.log.warn({ heldMs: leak.heldMs, acquiredAt: leak.acquiredAt }, 'database connection held too long'))
  if (applied.length > 0) app.log.info({ applied }, 'migrations applied')
  for (const name of config.generatedSecrets) {
    console.warn(`${name} is not set: generated a random one for this run (tokens will not survive a restart). Set ${name} to keep them.`)
  }
  const address = await app.listen({ port: config.port, host: config.host })
  console.log(`classroom listening on ${address} (database: ${server ? `embedded, data in ${server.dataDir}` : 'DATABASE_URL'})`)

  let stopping = false
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    console.log(`${signal} received: shutting down`)
    try {
      await app.close()
      await db.close({ timeoutMs: 10_000 })
      await server?.stop()
      process.exit(0)
    } catch (err) {
      console.error('shutdown failed', err)
      process.exit(1)
    }
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

await main()
