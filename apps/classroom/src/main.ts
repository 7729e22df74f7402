/**
 * `npm start`: validate the configuration, start an embedded PostgreSQL whose data persists under
 * DATA_DIR (or use DATABASE_URL), migrate, serve. SIGTERM/SIGINT: stop accepting, close
 * WebSockets with 1001, let in-flight requests finish (SHUTDOWN_GRACE_MS, then 503), drain the
 * pool, stop the embedded server, exit 0, whichever database is used.
 *
 * Every start-up failure is one line saying what is wrong and what to do, not a stack trace.
 * The embedded server's package is imported only when it is used.
 */
import path from 'node:path'
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import type { EmbeddedServer } from '@pgsteward/embedded-postgres'
import type { FastifyInstance } from 'fastify'
import { ConfigError, createDatabase, type Database } from 'pgsteward'
import { buildApp } from './app.ts'
import { ConfigurationError, loadConfig, type Config } from './config.ts'
import { secretsFile, withDevelopmentSecrets } from './development-secrets.ts'
import { migrateUp } from './migrate.ts'

const DATABASE_NAME = 'classroom'

/** A start-up failure worth one line: the message says what to do. */
class StartupError extends Error {}

/** postgres://user:****@host:port/db: a URL to show, password hidden. */
export function withoutPassword(url: string): string {
  const parsed = new URL(url)
  if (parsed.password !== '') parsed.password = '****'
  return parsed.toString()
}

function describeConnectionFailure(url: string, err: unknown): string {
  const where = (() => {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`
  })()
  const e = err as { code?: string; message?: string }
  const reason =
    e.code === 'ECONNREFUSED'
      ? 'connection refused (is PostgreSQL running there?)'
      : e.code === 'ENOTFOUND'
        ? 'no such host'
        : e.code === '28P01' || e.code === '28000'
          ? 'the user name or password is wrong'
          : e.code === '3D000'
            ? 'the database does not exist (create it first)'
            : (e.message ?? String(err)).split('\n')[0]
  return `Cannot reach the database at ${where}: ${reason}. Check DATABASE_URL.`
}

/** One connection attempt with a short timeout: a bad DATABASE_URL is reported at once and plainly. */
async function checkReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (err) {
    throw new StartupError(describeConnectionFailure(url, err))
  } finally {
    await client.end().catch(() => undefined)
  }
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

async function startEmbedded(config: Config): Promise<EmbeddedServer> {
  const { startEmbeddedServer, EmbeddedServerError } = await import('@pgsteward/embedded-postgres')
  try {
    return await startEmbeddedServer({
      dataDir: path.join(config.dataDir, 'postgres'),
      // Only what concerns the person starting it: a leftover server being stopped, a wait.
      onLog: (line) => {
        if (/^(stopping|waiting) /.test(line)) console.log(line)
      },
    })
  } catch (err) {
    if (err instanceof EmbeddedServerError) throw new StartupError(err.message)
    throw err
  }
}

/**
 * `npm start` was killed hard (kill -9 of npm): nobody would ever stop this process or its
 * database. It notices its parent is gone and shuts down like on SIGTERM.
 */
function watchParent(onGone: () => void): void {
  if (process.env.npm_lifecycle_event !== 'start') return
  const parent = process.ppid
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0)
    } catch {
      clearInterval(timer)
      onGone()
    }
  }, 1_000)
  timer.unref()
}

interface Running {
  server: EmbeddedServer | undefined
  db: Database | undefined
  app: FastifyInstance | undefined
}

async function stopAll(running: Running): Promise<void> {
  await running.app?.close()
  await running.db?.close({ timeoutMs: 10_000 })
  await running.server?.stop()
}

async function start(running: Running): Promise<void> {
  const baseConfig = (() => {
    try {
      return loadConfig({ ...process.env, JWT_SECRET: process.env.JWT_SECRET ?? 'x'.repeat(32), SERVICE_SECRET: process.env.SERVICE_SECRET ?? 'x'.repeat(32) })
    } catch (err) {
      if (err instanceof ConfigurationError) return undefined
      throw err
    }
  })()
  // Secrets kept for development need DATA_DIR; a configuration too broken to tell it is reported below.
  const { env, fromFile } = baseConfig === undefined ? { env: process.env, fromFile: [] } : await withDevelopmentSecrets(process.env, baseConfig.dataDir)
  let config: Config
  try {
    config = loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigurationError) throw new StartupError(err.message)
    throw err
  }
  if (config.oidc !== undefined && 'file' in config.oidc.jwks) {
    await readFile(config.oidc.jwks.file).catch((err: NodeJS.ErrnoException) => {
      throw new StartupError(`OIDC_JWKS_FILE ${(config.oidc?.jwks as { file: string }).file} cannot be read (${err.code ?? err.message}).`)
    })
  }

  let url: string
  if (config.databaseUrl !== undefined) {
    url = config.databaseUrl
    await checkReachable(url)
  } else {
    running.server = await startEmbedded(config)
    url = await ensureDatabase(running.server.url)
  }
  try {
    running.db = createDatabase({ connectionString: url, applicationName: 'classroom', pool: { max: config.dbPoolMax, leakDetectionMs: 30_000 } })
  } catch (err) {
    if (err instanceof ConfigError) throw new StartupError(err.message.split('\n')[0])
    throw err
  }
  const db = running.db
  try {
    await db.ready()
  } catch (err) {
    throw new StartupError(describeConnectionFailure(url, err instanceof Error && err.cause !== undefined ? err.cause : err))
  }
  const applied = await migrateUp(db)
  const app = await buildApp({ config, db, databaseUrl: url }).catch((err: unknown) => {
    throw new StartupError(`The service could not be set up: ${err instanceof Error ? err.message : String(err)}`)
  })
  running.app = app
  db.on('leak', (leak) => app.log.warn({ heldMs: leak.heldMs, acquiredAt: leak.acquiredAt }, 'database connection held too long'))
  if (applied.length > 0) app.log.info({ applied }, 'migrations applied')
  let address: string
  try {
    address = await app.listen({ port: config.port, host: config.host })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') throw new StartupError(`Port ${config.port} on ${config.host} is in use: stop what listens there, or set PORT to another port.`)
    if (code === 'EACCES')
      throw new StartupError(`Not allowed to listen on ${config.host}:${config.port}: ports below 1024 need privileges; set PORT to 1024 or above.`)
    if (code === 'EADDRNOTAVAIL') throw new StartupError(`HOST ${config.host} is not an address of this machine: set HOST (e.g. 127.0.0.1 or 0.0.0.0).`)
    throw err
  }
  const where = running.server
    ? `embedded PostgreSQL ${running.server.version.replace(/^postgres \(PostgreSQL\) /, '')} at ${withoutPassword(url)} (data in ${running.server.linkedFrom ? `${running.server.linkedFrom} -> ` : ''}${running.server.dataDir}; npm run psql -w classroom)`
    : `${withoutPassword(url)} (DATABASE_URL)`
  console.log(`classroom listening on ${address}, database: ${where}`)
  if (fromFile.length > 0)
    console.log(`${fromFile.join(' and ')} not set: using the one${fromFile.length > 1 ? 's' : ''} kept in ${secretsFile(config.dataDir)} (development only).`)
}

async function main(): Promise<void> {
  const running: Running = { server: undefined, db: undefined, app: undefined }
  let stopping = false
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return
    stopping = true
    console.log(`${why}: shutting down`)
    try {
      await stopAll(running)
      process.exit(0)
    } catch (err) {
      console.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`)
      process.exit(1)
    }
  }
  // Installed first: a signal during start-up also stops whatever was started so far.
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  watchParent(() => void shutdown('npm start ended'))
  try {
    await start(running)
  } catch (err) {
    const verbose = process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace'
    console.error(err instanceof StartupError ? err.message : `classroom could not start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
    if (verbose && err instanceof Error) console.error(err.stack)
    if (!stopping) {
      stopping = true
      await stopAll(running).catch(() => undefined)
      process.exit(1)
    }
  }
}

await main()
