/**
 * A real PgBouncer in front of a test server, started and stopped by the test. PgBouncer is not
 * an npm package: it is found on PATH (or in /usr/sbin, where Debian puts it), and a test that
 * needs it reports itself skipped, with the install command, when it is missing.
 */
import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from '@pgsteward/embedded-postgres'
import { stopAfterTest } from './stop-after-test.ts'
import { serverUser, startServerProcess, type ServerProcess } from './server-process.ts'
import { waitFor } from './wait-for.ts'

const run = promisify(execFile)

/** The skip message of {@link pgbouncerOrSkip}: what is missing and how to install it. */
export const PGBOUNCER_MISSING = 'PgBouncer not found: apt-get install -y pgbouncer'

/** Names an explicit PgBouncer binary (a newer build, say), used instead of searching PATH. */
const BINARY_VARIABLE = 'PGSTEWARD_PGBOUNCER'

/** PgBouncer's pooling modes: when a server connection goes back to the pool. */
export type PgBouncerPoolMode = 'session' | 'transaction' | 'statement'

/** Options of {@link startPgBouncer}. */
export interface PgBouncerOptions {
  /**
   * The PostgreSQL server, as a URL with user and password (the embedded server's superuser URL,
   * or a test database's). PgBouncer serves every database name of that server, as that user.
   */
  target: string
  /** (Default: 'transaction') */
  poolMode?: PgBouncerPoolMode
  /** Server connections per database and user. (Default: 5) */
  defaultPoolSize?: number
  /** Server connections kept open even when idle. (Default: 0) */
  minPoolSize?: number
  /** Extra server connections allowed for clients that waited `reserve_pool_timeout`. (Default: 0) */
  reservePoolSize?: number
  /** Client connections PgBouncer accepts. (Default: 200) */
  maxClientConn?: number
  /**
   * `max_prepared_statements`: PgBouncer carries named prepared statements across server
   * connections in transaction mode. Only PgBouncer 1.21 and later know it; with an older one it is
   * left out of the configuration, and the handle's `maxPreparedStatements` says 0.
   * (Default: not set, PgBouncer's own default: 0 before 1.22, 200 from 1.22)
   */
  maxPreparedStatements?: number
  /** Any other `[pgbouncer]` settings, written as given (`{ server_lifetime: 5 }`). */
  settings?: Record<string, string | number>
  /** Bound on start-up, including the check that PgBouncer answers. (Default: 60000) */
  startTimeoutMs?: number
  /**
   * Stop PgBouncer in a node:test `after` hook of the test (or file) that started it. Start it
   * at the top level of the file (top-level await) or inside a test, not in a `before` hook:
   * node:test runs `after` hooks registered in a `before` hook as soon as that hook returns.
   * Turn off only outside node:test, and then stop it yourself. (Default: true)
   */
  stopAfterTest?: boolean
}

/** A running PgBouncer; see {@link startPgBouncer}. */
export interface PgBouncer {
  /** The target URL with host and port replaced by PgBouncer's: connect here instead. */
  readonly url: string
  /** PgBouncer's admin console (database `pgbouncer`): `SHOW POOLS`, `SHOW SERVERS`, `SHOW CLIENTS`. */
  readonly adminUrl: string
  readonly port: number
  /** "1.18.0" */
  readonly version: string
  readonly poolMode: PgBouncerPoolMode
  /** The `max_prepared_statements` in effect: 0 when PgBouncer does not carry prepared statements. */
  readonly maxPreparedStatements: number
  /** Temporary directory of its configuration, user list and log; removed by `stop()`. */
  readonly dir: string
  /** PgBouncer's log so far. */
  log(): Promise<string>
  /** Immediate shutdown (clients are disconnected), bounded wait, directory removed. Idempotent. */
  stop(): Promise<void>
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * The `pgbouncer` binary: `$PGSTEWARD_PGBOUNCER` if set, else the first on PATH, else
 * /usr/sbin or /usr/local/sbin (not on an ordinary user's PATH). `undefined` when there is none.
 */
export function findPgBouncer(): string | undefined {
  const explicit = process.env[BINARY_VARIABLE]
  if (explicit !== undefined && explicit !== '') return isExecutable(explicit) ? explicit : undefined
  const directories = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin']
  return directories.map((d) => path.join(d, 'pgbouncer')).find(isExecutable)
}

/** The version a PgBouncer binary reports (`pgbouncer --version`), as "1.18.0". */
async function pgbouncerVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['--version'])
  const match = /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(stdout)
  if (!match?.[1]) throw new Error(`${binary} --version did not name a PgBouncer version: ${stdout.trim()}`)
  return match[1]
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number)
  return a > major || (a === major && b >= minor)
}

/**
 * Start PgBouncer on a free 127.0.0.1 port in front of `options.target`, running as the
 * unprivileged `postgres` user when we are root (PgBouncer refuses root). Clients authenticate
 * with the target URL's user and password (scram-sha-256), and so does PgBouncer to the server.
 *
 * @throws Error with {@link PGBOUNCER_MISSING} when there is no binary; prefer {@link pgbouncerOrSkip} in tests.
 * @example
 * ```ts
 * const bouncer = await startPgBouncer({ target: await createTestDatabase('pooler'), defaultPoolSize: 2 })
 * const client = new pg.Client({ connectionString: bouncer.url })
 * ```
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const stopLater = stopAfterTest(options.stopAfterTest)
  const binary = findPgBouncer()
  if (binary === undefined) throw new Error(PGBOUNCER_MISSING)
  const version = await pgbouncerVersion(binary)
  const poolMode = options.poolMode ?? 'transaction'
  const carriesPrepared = atLeast(version, 1, 21)
  const maxPreparedStatements = carriesPrepared ? (options.maxPreparedStatements ?? (atLeast(version, 1, 22) ? 200 : 0)) : 0
  const target = new URL(options.target)
  const user = decodeURIComponent(target.username)
  const password = decodeURIComponent(target.password)
  if (user === '') throw new Error(`startPgBouncer: the target URL names no user: ${target.host}`)
  const serverAs = await serverUser()
  const startTimeoutMs = options.startTimeoutMs ?? 60_000

  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgsteward-pgbouncer-'))
  const configFile = path.join(dir, 'pgbouncer.ini')
  const userlist = path.join(dir, 'userlist.txt')
  const logFile = path.join(dir, 'pgbouncer.log')
  const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`
  await writeFile(userlist, `${quote(user)} ${quote(password)}\n`, { mode: 0o600 })
  if (serverAs) {
    await chown(dir, serverAs.uid, serverAs.gid)
    await chown(userlist, serverAs.uid, serverAs.gid)
  }
  await chmod(dir, 0o700)

  const writeConfig = async (port: number): Promise<void> => {
    const settings: Record<string, string | number> = {
      listen_addr: '127.0.0.1',
      listen_port: port,
      // No Unix socket: tests use TCP only, and a socket file in /tmp would collide between runs.
      unix_socket_dir: '',
      auth_type: 'scram-sha-256',
      auth_file: userlist,
      admin_users: user,
      pool_mode: poolMode,
      default_pool_size: options.defaultPoolSize ?? 5,
      min_pool_size: options.minPoolSize ?? 0,
      reserve_pool_size: options.reservePoolSize ?? 0,
      max_client_conn: options.maxClientConn ?? 200,
      // What JDBC and others send; an unknown startup parameter makes PgBouncer refuse the client.
      ignore_startup_parameters: 'extra_float_digits',
      ...(carriesPrepared ? { max_prepared_statements: maxPreparedStatements } : {}),
      ...options.settings,
    }
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1'
    const lines = [
      '[databases]',
      // The fallback entry: any database name the client asks for, on the target server.
      `* = host=${host} port=${target.port || 5432}`,
      '',
      '[pgbouncer]',
      ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
      '',
    ]
    await writeFile(configFile, lines.join('\n'), { mode: 0o600 })
    if (serverAs) await chown(configFile, serverAs.uid, serverAs.gid)
  }

  // The free port can be taken between our check and PgBouncer's bind: then it exits, and we try another.
  let process_: ServerProcess | undefined
  let port = 0
  let lastError: Error | undefined
  for (let attempt = 0; attempt < 3 && process_ === undefined; attempt += 1) {
    port = await freePort()
    await writeConfig(port)
    const started = startServerProcess({
      name: `PgBouncer ${version} on 127.0.0.1:${port}`,
      command: binary,
      args: [configFile],
      logFile,
      user: serverAs,
      stopSignal: atLeast(version, 1, 23) ? 'SIGQUIT' : 'SIGTERM', // immediate shutdown; 1.23 made SIGTERM wait for clients
      emergencySignal: 'SIGKILL',
    })
    try {
      await waitFor(() => answersAsPgBouncer(port, user, password, version), {
        what: `PgBouncer ${version} to answer on 127.0.0.1:${port}`,
        timeoutMs: startTimeoutMs,
        intervalMs: 100,
        fatal: () => started.exitError(),
      })
      process_ = started
    } catch (error) {
      lastError = error instanceof Error ? error : new Error(String(error))
      await started.stop()
      if (started.exitError() === undefined || attempt === 2) break
    }
  }
  if (process_ === undefined) {
    const log = await readFile(logFile, 'utf8').catch(() => '')
    await rm(dir, { recursive: true, force: true })
    throw new Error(`PgBouncer did not start: ${lastError?.message ?? 'unknown'}\n${log.split('\n').slice(-20).join('\n')}`, { cause: lastError })
  }
  const server = process_

  const url = new URL(options.target)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  const adminUrl = new URL(url)
  adminUrl.pathname = '/pgbouncer'
  let stopping: Promise<void> | undefined
  const bouncer: PgBouncer = {
    url: url.toString(),
    adminUrl: adminUrl.toString(),
    port,
    version,
    poolMode,
    maxPreparedStatements,
    dir,
    log: () => server.logTail(Number.MAX_SAFE_INTEGER),
    stop() {
      stopping ??= (async () => {
        await server.stop()
        await rm(dir, { recursive: true, force: true })
      })()
      return stopping
    },
  }
  stopLater(() => bouncer.stop())
  return bouncer
}

/** Whether our PgBouncer answers on its admin console (not merely something listening on the port). */
async function answersAsPgBouncer(port: number, user: string, password: string, version: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'pgbouncer', connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const result = await client.query<{ version: string }>('SHOW VERSION')
    return result.rows.some((row) => row.version.includes(version))
  } finally {
    await client.end().catch(() => undefined)
  }
}

/**
 * {@link startPgBouncer} for a test that needs PgBouncer: when the binary is missing, the test is
 * reported as skipped with {@link PGBOUNCER_MISSING} and `undefined` comes back (return at once).
 *
 * @example
 * ```ts
 * test('works behind PgBouncer in transaction mode', async (t) => {
 *   const bouncer = await pgbouncerOrSkip(t, { target: databaseUrl })
 *   if (!bouncer) return
 *   // ... connect to bouncer.url
 * })
 * ```
 */
export async function pgbouncerOrSkip(t: TestContext, options: PgBouncerOptions): Promise<PgBouncer | undefined> {
  if (findPgBouncer() === undefined) {
    t.skip(PGBOUNCER_MISSING)
    return undefined
  }
  return startPgBouncer(options)
}
