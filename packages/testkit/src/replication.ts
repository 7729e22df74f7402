/**
 * A real primary and a streaming hot standby, built from the embedded server's binaries, for
 * tests of failover and read replicas. The standby is a copy of the primary's data directory
 * taken with the primary cleanly stopped (no pg_basebackup in the embedded package), plus
 * `standby.signal` and `primary_conninfo`; it streams through a physical replication slot, so
 * the primary keeps every WAL segment the standby has not received yet.
 */
import { execFile } from 'node:child_process'
import { appendFile, chmod, chown, cp, lchown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort, startEmbeddedServer, type EmbeddedServer } from '@pgsteward/embedded-postgres'
import { postgresBinaries } from './postgres-binaries.ts'
import { stopAfterTest } from './stop-after-test.ts'
import { serverUser, startServerProcess, type ServerProcess, type ServerUser } from './server-process.ts'
import { waitFor } from './wait-for.ts'

const run = promisify(execFile)

/** Options of {@link startReplicatedPair}. */
export interface ReplicatedPairOptions {
  /** Extra `name=value` settings for both servers (a standby needs some of them at least as high as its primary's). */
  settings?: Record<string, string | number>
  /** Bound on each start-up and on the standby's first catch-up. (Default: 60000) */
  startTimeoutMs?: number
  /**
   * Stop both servers and remove their data in a node:test `after` hook of the test (or file)
   * that started them. Start them at the top level of the file (top-level await) or inside a
   * test, not in a `before` hook: node:test runs `after` hooks registered in a `before` hook as
   * soon as that hook returns. Turn off only outside node:test, and then stop them yourself.
   * (Default: true)
   */
  stopAfterTest?: boolean
}

/** One server of a {@link ReplicatedPair}. */
export interface ReplicaNode {
  /** Superuser URL (user postgres, with its password) of its `postgres` database. */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** Whether it is running (as far as this handle knows: started and not stopped by it). */
  readonly running: boolean
  /** Fast shutdown (sessions are terminated, as in a failover); data stays. Idempotent. */
  stop(): Promise<void>
  /** Start again on the same port and data; resolves once it accepts connections. Idempotent. */
  start(): Promise<void>
}

/** A primary and its streaming standby; see {@link startReplicatedPair}. */
export interface ReplicatedPair {
  readonly primary: ReplicaNode
  readonly standby: ReplicaNode
  /**
   * Promote the standby (`pg_ctl promote`) and wait until `pg_is_in_recovery()` is false there.
   * Stop the primary first for a failover; otherwise there are two primaries, as in a split brain.
   */
  promote(options?: { timeoutMs?: number }): Promise<void>
  /**
   * Wait until the standby has replayed WAL up to `lsn` (default: the primary's current WAL
   * position, that is everything committed so far). Returns the standby's replay position.
   * (Default timeout: 30000)
   */
  waitForReplay(lsn?: string, options?: { timeoutMs?: number }): Promise<string>
  /** Stop both servers and remove their data directories. Idempotent. */
  stop(): Promise<void>
}

const SLOT = 'pgsteward_standby'

/** What streaming replication needs, set explicitly rather than trusting defaults. */
const REPLICATION_SETTINGS: Record<string, string | number> = {
  wal_level: 'replica',
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: '256MB',
  hot_standby: 'on',
  // Fewer "canceling statement due to conflict with recovery" errors on the standby in tests.
  hot_standby_feedback: 'on',
  // After the primary restarts, the standby reconnects within half a second, not five.
  wal_retrieve_retry_interval: '500ms',
  // A commit is sent to the standby when it returns, so a test's waitForReplay does not wait for the WAL writer.
  synchronous_commit: 'on',
}

/** The embedded server's own settings, which the standby (started by us, not by the wrapper) needs too. */
const SERVER_SETTINGS: Record<string, string | number> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  max_connections: 300,
  fsync: 'off',
  full_page_writes: 'off',
}

async function withConnection<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'pgsteward-testkit' })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

function urlWithPort(url: string, port: number): string {
  const u = new URL(url)
  u.port = String(port)
  return u.toString()
}

async function chownTree(root: string, user: ServerUser): Promise<void> {
  await chown(root, user.uid, user.gid)
  for (const entry of await readdir(root, { recursive: true })) await lchown(path.join(root, entry), user.uid, user.gid)
}

/**
 * Start a primary (an embedded server with replication settings and a replication slot) and a
 * hot standby streaming from it, each on its own free 127.0.0.1 port, running as the unprivileged
 * `postgres` user under root. Resolves once the standby has replayed everything the primary wrote
 * and the primary sees it streaming.
 *
 * @example
 * ```ts
 * const pair = await startReplicatedPair()
 * await withClient(pair.primary.url, (c) => c.query('create table t (x int); insert into t values (1)'))
 * await pair.waitForReplay()
 * await withClient(pair.standby.url, (c) => c.query('select x from t')) // [{ x: 1 }]
 * await pair.primary.stop()
 * await pair.promote() // the standby now takes writes
 * ```
 */
export async function startReplicatedPair(options: ReplicatedPairOptions = {}): Promise<ReplicatedPair> {
  const stopLater = stopAfterTest(options.stopAfterTest)
  const startTimeoutMs = options.startTimeoutMs ?? 60_000
  const settings = { ...REPLICATION_SETTINGS, ...options.settings }
  const binaries = await postgresBinaries()

  let user: ServerUser | undefined
  let primaryServer: EmbeddedServer | undefined
  let standbyParent: string | undefined
  let standbyProcess: ServerProcess | undefined
  const cleanUp = async (): Promise<void> => {
    await standbyProcess?.stop()
    await primaryServer?.stop({ removeData: true })
    if (standbyParent !== undefined) await rm(standbyParent, { recursive: true, force: true })
  }

  try {
    primaryServer = await startEmbeddedServer({ settings })
    const primary = primaryServer
    // Looked up after the primary started: under root the embedded server creates the user if missing.
    user = await serverUser()
    await withConnection(primary.url, (c) => c.query('select pg_create_physical_replication_slot($1)', [SLOT]))

    // The copy is taken with the primary cleanly stopped: consistent without a backup label.
    await primary.stop()
    const hba = path.join(primary.dataDir, 'pg_hba.conf')
    if (!/^\s*host\s+replication\s+\S+\s+127\.0\.0\.1\/32\s+scram-sha-256\s*$/m.test(await readFile(hba, 'utf8'))) {
      await appendFile(hba, '\nhost replication postgres 127.0.0.1/32 scram-sha-256\n')
    }
    standbyParent = await mkdtemp(path.join(os.tmpdir(), 'pgsteward-standby-'))
    await chmod(standbyParent, 0o755)
    const standbyDir = path.join(standbyParent, 'data')
    await cp(primary.dataDir, standbyDir, { recursive: true })
    await rm(path.join(standbyDir, 'postmaster.pid'), { force: true })
    await rm(path.join(standbyDir, 'postmaster.opts'), { force: true })
    await writeFile(path.join(standbyDir, 'standby.signal'), '')
    // The embedded server's superuser password is random; the primary's URL carries it.
    const password = decodeURIComponent(new URL(primary.url).password)
    const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${password} application_name=${SLOT}`
    await appendFile(path.join(standbyDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${SLOT}'\n`)
    if (user) await chownTree(standbyDir, user)
    await chmod(standbyDir, 0o700)
    await primary.start()

    const standbyPort = await freePort()
    const standbyUrl = urlWithPort(primary.url, standbyPort)
    const standbyLog = path.join(standbyParent, 'standby.log')
    const serverArgs = Object.entries({ ...SERVER_SETTINGS, ...settings }).flatMap(([k, v]) => ['-c', `${k}=${v}`])
    const startStandby = async (): Promise<void> => {
      const started = startServerProcess({
        name: `standby PostgreSQL on 127.0.0.1:${standbyPort}`,
        command: binaries.postgres,
        args: ['-D', standbyDir, '-p', String(standbyPort), ...serverArgs],
        logFile: standbyLog,
        user,
        stopSignal: 'SIGINT', // fast shutdown
        emergencySignal: 'SIGQUIT', // immediate shutdown: the postmaster takes its children along
      })
      standbyProcess = started
      try {
        // It answers as itself: its data directory, not whatever else might be on the port.
        await waitFor(
          () =>
            withConnection(standbyUrl, async (c) => (await c.query<{ data_directory: string }>('show data_directory')).rows[0]?.data_directory === standbyDir),
          {
            what: `the standby on 127.0.0.1:${standbyPort} to accept connections`,
            timeoutMs: startTimeoutMs,
            intervalMs: 100,
            fatal: () => started.exitError(),
          },
        )
      } catch (error) {
        await started.stop()
        throw new Error(`${error instanceof Error ? error.message : String(error)}\n${await started.logTail()}`, { cause: error })
      }
    }
    await startStandby()

    let primaryRunning = true
    const primaryNode: ReplicaNode = {
      url: primary.url,
      port: primary.port,
      dataDir: primary.dataDir,
      get running() {
        return primaryRunning
      },
      async stop() {
        if (!primaryRunning) return
        primaryRunning = false
        await primary.stop()
      },
      async start() {
        if (primaryRunning) return
        await primary.start()
        primaryRunning = true
      },
    }
    const standbyNode: ReplicaNode = {
      url: standbyUrl,
      port: standbyPort,
      dataDir: standbyDir,
      get running() {
        return standbyProcess !== undefined && standbyProcess.exitError() === undefined
      },
      async stop() {
        await standbyProcess?.stop()
      },
      async start() {
        if (standbyNode.running) return
        await startStandby()
      },
    }

    // Replayed is not yet streaming: a standby replays what its base backup brought before its WAL
    // receiver connects. The pair is ready once the primary sees its standby streaming.
    const waitForStreaming = (): Promise<boolean> =>
      waitFor(
        () =>
          withConnection(primary.url, async (c) => {
            const { rows } = await c.query<{ state: string }>('select state from pg_stat_replication where application_name = $1', [SLOT])
            return rows[0]?.state === 'streaming'
          }),
        { what: `the primary to see its standby streaming (application_name ${SLOT})`, timeoutMs: startTimeoutMs },
      )

    const waitForReplay = async (lsn?: string, waitOptions: { timeoutMs?: number } = {}): Promise<string> => {
      const target =
        lsn ?? (await withConnection(primary.url, async (c) => (await c.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]?.lsn))
      if (target === undefined) throw new Error('waitForReplay: the primary reported no WAL position')
      let observed = 'nothing yet'
      return waitFor(
        () =>
          withConnection(standbyUrl, async (c) => {
            const { rows } = await c.query<{ replayed: string | null; done: boolean | null; receiver: string | null }>(
              `select pg_last_wal_replay_lsn()::text as replayed, pg_last_wal_replay_lsn() >= $1::pg_lsn as done,
                      (select status from pg_stat_wal_receiver) as receiver`,
              [target],
            )
            const row = rows[0]
            observed = `replayed ${row?.replayed ?? 'nothing'}, WAL receiver ${row?.receiver ?? 'not running'}`
            return row?.done === true ? (row.replayed ?? undefined) : undefined
          }),
        { what: () => `the standby to replay WAL up to ${target} (${observed})`, timeoutMs: waitOptions.timeoutMs ?? 30_000 },
      )
    }

    await waitForReplay(undefined, { timeoutMs: startTimeoutMs })
    await waitForStreaming()

    let stopping: Promise<void> | undefined
    const pair: ReplicatedPair = {
      primary: primaryNode,
      standby: standbyNode,
      waitForReplay,
      async promote(promoteOptions = {}) {
        const timeoutMs = promoteOptions.timeoutMs ?? 60_000
        // pg_ctl refuses to run as root; it signals the postmaster named in postmaster.pid.
        await run(binaries.pg_ctl, ['promote', '-D', standbyDir, '-w', '-t', String(Math.ceil(timeoutMs / 1000))], {
          ...(user ? { uid: user.uid, gid: user.gid } : {}),
          timeout: timeoutMs + 5_000,
        }).catch((error: unknown) => {
          const detail = error instanceof Error && 'stderr' in error ? String((error as { stderr: unknown }).stderr).trim() : String(error)
          throw new Error(`pg_ctl promote failed: ${detail}`, { cause: error })
        })
        await waitFor(
          () =>
            withConnection(
              standbyUrl,
              async (c) => (await c.query<{ primary: boolean }>('select not pg_is_in_recovery() as primary')).rows[0]?.primary === true,
            ),
          {
            what: 'the promoted standby to leave recovery',
            timeoutMs,
          },
        )
      },
      stop() {
        stopping ??= cleanUp()
        return stopping
      },
    }
    stopLater(() => pair.stop())
    return pair
  } catch (error) {
    await cleanUp().catch(() => undefined)
    throw error
  }
}
