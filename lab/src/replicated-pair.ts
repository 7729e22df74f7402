/**
 * A primary with a streaming standby, built from the embedded server's binaries, for the failover
 * scenario: the primary's data directory copied while it is stopped, plus `standby.signal` and
 * `primary_conninfo`. Kept small and lab-local until the testkit's `startReplicatedPair()` (branch
 * `infra`) lands; then this file gives way to it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { appendFile, chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort, startEmbeddedServer } from '@pgsteward/embedded-postgres'

const run = promisify(execFile)

export interface ReplicatedPair {
  /** Superuser URLs of the `postgres` database on each server. */
  primaryUrl: string
  standbyUrl: string
  primaryPort: number
  standbyPort: number
  /** Stop the primary (fast shutdown), as a primary that fails. */
  stopPrimary(): Promise<void>
  /** Promote the standby; resolves once it accepts writes. */
  promoteStandby(): Promise<void>
  /** Stop both and remove their data. */
  dispose(): Promise<void>
}

/** The embedded package's `postgres` binary, for a server its start-up helper cannot wait for (a standby says "read-only"). */
async function postgresBinary(): Promise<string> {
  const specifier = `@embedded-postgres/${os.platform()}-${os.arch()}`
  const binaries = (await import(specifier)) as { postgres: string }
  return binaries.postgres
}

/** Under root, PostgreSQL runs as the `postgres` user the embedded server created. */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])])
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

async function query<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgsteward-lab-inspector' })
  await client.connect()
  try {
    return (await client.query(text)).rows as T[]
  } finally {
    await client.end()
  }
}

async function waitFor(what: string, ms: number, ready: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    if (await ready().catch(() => false)) return
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms / 1000} s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function startReplicatedPair(): Promise<ReplicatedPair> {
  const primary = await startEmbeddedServer()
  const credentials = new URL(primary.url)
  await primary.stop()
  const standbyRoot = await mkdtemp(path.join(os.tmpdir(), 'lab-standby-'))
  await chmod(standbyRoot, 0o755)
  const standbyDir = path.join(standbyRoot, 'data')
  // A copy of a cleanly stopped primary is a consistent base backup; cp -a keeps the owner and the 0700 mode.
  await run('cp', ['-a', primary.dataDir, standbyDir])
  await rm(path.join(standbyDir, 'postmaster.pid'), { force: true })
  const signal = path.join(standbyDir, 'standby.signal')
  await writeFile(signal, '')
  const user = await serverUser()
  if (user) await chown(signal, user.uid, user.gid)
  await appendFile(
    path.join(standbyDir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=${credentials.username} password=${credentials.password} application_name=lab_standby'\n`,
  )
  await primary.start()

  const standbyPort = await freePort()
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: 300,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
  }
  const standby: ChildProcess = spawn(
    await postgresBinary(),
    ['-D', standbyDir, '-p', String(standbyPort), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    {
      ...user,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  const standbyExited = new Promise<void>((resolve) => standby.once('exit', () => resolve()))
  let log = ''
  standby.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4_000)))
  const standbyUrl = new URL(primary.url)
  standbyUrl.port = String(standbyPort)
  const stopStandby = async (): Promise<void> => {
    if (standby.exitCode === null && standby.signalCode === null) standby.kill('SIGINT')
    await standbyExited
  }
  const dispose = async (): Promise<void> => {
    await stopStandby()
    await primary.stop({ removeData: true })
    await rm(standbyRoot, { recursive: true, force: true })
  }
  try {
    await waitFor('the standby streaming from the primary', 30_000, async () => {
      if (standby.exitCode !== null) throw new Error(`the standby exited:\n${log}`)
      const [row] = await query<{ n: number }>(primary.url, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'")
      return row?.n === 1
    })
  } catch (err) {
    await dispose()
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${log}`)
  }
  return {
    primaryUrl: primary.url,
    standbyUrl: standbyUrl.toString(),
    primaryPort: primary.port,
    standbyPort,
    stopPrimary: () => primary.stop(),
    async promoteStandby() {
      await query(standbyUrl.toString(), 'SELECT pg_promote(true, 60)')
      await waitFor('the promoted standby accepting writes', 30_000, async () => {
        const [row] = await query<{ recovering: boolean }>(standbyUrl.toString(), 'SELECT pg_is_in_recovery() AS recovering')
        return row?.recovering === false
      })
    },
    dispose,
  }
}
