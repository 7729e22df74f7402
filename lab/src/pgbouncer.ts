/**
 * A real PgBouncer in transaction mode in front of a lab server, on a free loopback port, for the
 * pooler scenario. PgBouncer is a Debian package, not an npm one: found on PATH or reported missing
 * with the install command. Kept small and lab-local until the testkit's PgBouncer runner (branch
 * `infra`) lands; then this file gives way to it.
 */
import { execFile, spawn } from 'node:child_process'
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '@pgsteward/embedded-postgres'

const run = promisify(execFile)

export const PGBOUNCER_INSTALL = 'apt-get install pgbouncer'

/** The pgbouncer binary on PATH, or undefined. */
export async function findPgBouncer(): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'pgbouncer')
    if (
      dir.length > 0 &&
      (await access(candidate).then(
        () => true,
        () => false,
      ))
    )
      return candidate
  }
  return undefined
}

export interface RunningPgBouncer {
  port: number
  version: string
  /** `url` with its host and port replaced by PgBouncer's. */
  urlFor(url: string): string
  stop(): Promise<void>
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Start PgBouncer in transaction mode for every database of the server behind `serverUrl`, with
 * `poolSize` server connections per database and user: fewer than the application's client
 * connections, which is why one runs a pooler.
 */
export async function startPgBouncer(serverUrl: string, poolSize: number): Promise<RunningPgBouncer> {
  const binary = await findPgBouncer()
  if (!binary) throw new Error(`pgbouncer is not on PATH: install it with \`${PGBOUNCER_INSTALL}\``)
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username)
  const password = decodeURIComponent(server.password)
  const version = (await run(binary, ['--version'])).stdout.split('\n')[0]?.trim() ?? 'PgBouncer'
  const [major = 0, minor = 0] = (/(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lab-pgbouncer-'))
  // PgBouncer refuses to run as root; as root it switches to the embedded server's user, which must read these files.
  await chmod(dir, 0o755)
  const port = await freePort()
  const config = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 2000',
    // What most deployments set so that JDBC and similar clients can connect.
    'ignore_startup_parameters = extra_float_digits',
    // From 1.21 PgBouncer can carry protocol-level prepared statements (on by default from 1.22).
    // The scenario is about a pooler that cannot (1.18, as Debian ships it, RDS Proxy, older
    // Supavisor): turned off here so that a newer PgBouncer reproduces it too.
    ...(major > 1 || (major === 1 && minor >= 21) ? ['max_prepared_statements = 0'] : []),
  ].join('\n')
  await writeFile(path.join(dir, 'pgbouncer.ini'), `${config}\n`, { mode: 0o644 })
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o644 })
  const asRoot = process.getuid?.() === 0
  const child = spawn(binary, [...(asRoot ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4_000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const started = Date.now()
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() - started > 10_000) {
      child.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
      throw new Error(`PgBouncer did not start on 127.0.0.1:${port}:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return {
    port,
    version,
    urlFor(url) {
      const through = new URL(url)
      through.hostname = '127.0.0.1'
      through.port = String(port)
      return through.toString()
    },
    async stop() {
      // SIGTERM: immediate shutdown; the lab has finished with it.
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
}
