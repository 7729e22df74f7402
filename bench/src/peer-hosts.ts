/**
 * The main process's side of the host processes: one per Node version, each started with that
 * Node's binary on the compiled host code (build-host.ts), kept for the whole run, and killed if
 * the bench exits mid-run. A host that dies or stops answering is killed; the next job on its Node
 * starts a new one.
 */
import { fork, type ChildProcess } from 'node:child_process'
import type { ThreadCpuSource } from './cpu-clock.ts'
import { nameProfile, PROFILE_DIR_ENV, RUNTIME_ENV } from './cpu-profiles.ts'
import type { HostMessage, JobOutcome, JobRequest, PeerJob } from './peer-jobs.ts'
import { withTimeLimit } from './time-limit.ts'

/** A Node version the peers run on. */
export interface Runtime {
  /** `node20`: names rows and files. */
  id: string
  major: number
  /** `v20.20.2`, as the host reported it. */
  version: string
  binary: string
  /** The Node running the bench itself, or one fetched by nodeBinary (downloaded now or cached). */
  origin: 'running' | 'cache' | 'downloaded'
  threadCpuSource: ThreadCpuSource
  /** What `pgsteward` resolved to in the host process, and the flags the host ran with. */
  pgsteward: string
  execArgv: string[]
}

export type HostFacts = Pick<Runtime, 'version' | 'threadCpuSource' | 'pgsteward' | 'execArgv'>

/** Beyond a job's own limit (the host's, which terminates the worker): the host itself is stuck. */
const HOST_GRACE_MS = 30_000
const START_LIMIT_MS = 60_000

interface Host {
  child: ChildProcess
  pending: Map<number, { resolve: (outcome: JobOutcome) => void; reject: (err: Error) => void }>
  exited: Promise<void>
}

export interface PeerHostsOptions {
  /** Run every host with --cpu-prof, its profiles written here. */
  profileDir?: string
}

export class PeerHosts {
  readonly #entry: string
  readonly #profileDir: string | undefined
  readonly #hosts = new Map<string, Host>()
  #nextId = 1

  constructor(entry: string, options: PeerHostsOptions = {}) {
    this.#entry = entry
    this.#profileDir = options.profileDir
  }

  /** Start a host on `binary` and report what it is; the host stays up for later jobs. */
  async start(id: string, binary: string): Promise<HostFacts> {
    const { ready } = await this.#start(id, binary)
    return ready
  }

  async run(runtime: Runtime, job: PeerJob, timeoutMs: number): Promise<JobOutcome> {
    const host = this.#hosts.get(runtime.id) ?? (await this.#start(runtime.id, runtime.binary)).host
    const id = this.#nextId++
    return new Promise<JobOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        host.pending.delete(id)
        this.#kill(runtime.id, host, new Error('host stopped answering'))
        reject(new Error(`${runtime.id} host did not answer a ${job.peer} job within ${timeoutMs + HOST_GRACE_MS} ms; it was killed`))
      }, timeoutMs + HOST_GRACE_MS)
      host.pending.set(id, {
        resolve: (outcome) => {
          clearTimeout(timer)
          resolve(outcome)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      const request: JobRequest = { id, job, timeoutMs }
      host.child.send(request)
    })
  }

  /** Ask every host to close its workers (it does on disconnect), then make sure it is gone. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#hosts].map(async ([id, host]) => {
        host.child.disconnect()
        await withTimeLimit(host.exited, 20_000, `${id} host closing`).catch(() => this.#kill(id, host, new Error('benchmark ended')))
      }),
    )
  }

  async #start(id: string, binary: string): Promise<{ host: Host; ready: HostFacts }> {
    // No NODE_OPTIONS: whatever loader the bench itself runs under stays out of the measured processes.
    const { NODE_OPTIONS: _loaders, ...inherited } = process.env
    const profileDir = this.#profileDir
    const env = { ...inherited, [RUNTIME_ENV]: id, ...(profileDir === undefined ? {} : { [PROFILE_DIR_ENV]: profileDir }) }
    const child = fork(this.#entry, [], {
      execPath: binary,
      execArgv: ['--expose-gc', ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
    })
    const killOnExit = (): void => void child.kill('SIGKILL')
    process.once('exit', killOnExit)
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    const host: Host = { child, pending: new Map(), exited }
    this.#hosts.set(id, host)
    let onReady!: (ready: HostFacts) => void
    const ready = new Promise<HostFacts>((resolve) => (onReady = resolve))
    child.on('message', (message: HostMessage) => {
      if (message.kind === 'ready') {
        onReady({ version: message.node, threadCpuSource: message.threadCpuSource, pgsteward: message.pgsteward, execArgv: message.execArgv })
        return
      }
      const pending = host.pending.get(message.id)
      host.pending.delete(message.id)
      if (message.ok) pending?.resolve(message.outcome)
      else pending?.reject(new Error(message.error))
    })
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit)
      // The host's main thread only relays; its profile is named so it is not mistaken for a peer's.
      if (profileDir !== undefined && child.pid !== undefined) void nameProfile(profileDir, child.pid, 0, `${id}-host-relay`).catch(() => undefined)
      this.#forget(id, host, new Error(`${id} host exited (${signal ?? `code ${String(code)}`})`))
    })
    child.once('error', (err) => this.#kill(id, host, err))
    const started = await withTimeLimit(Promise.race([ready, exited.then(() => undefined)]), START_LIMIT_MS, `starting the ${id} host`)
    if (started === undefined) throw new Error(`the ${id} host (${binary}) exited before it was ready`)
    return { host, ready: started }
  }

  #kill(id: string, host: Host, reason: Error): void {
    host.child.kill('SIGKILL')
    this.#forget(id, host, reason)
  }

  /** Fail the host's jobs; a replacement started meanwhile is left alone. */
  #forget(id: string, host: Host, reason: Error): void {
    if (this.#hosts.get(id) === host) this.#hosts.delete(id)
    for (const pending of host.pending.values()) pending.reject(reason)
    host.pending.clear()
  }
}
