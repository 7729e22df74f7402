/**
 * A server process the testkit starts (PgBouncer, a standby PostgreSQL): run as the unprivileged
 * `postgres` user when we are root (both refuse to run as root), logging to a file, never keeping
 * the test process alive on its own, stopped with a bounded wait, and killed if the test process
 * exits without stopping it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { serverInstallation } from '@pgsteward/embedded-postgres'
import { waitFor } from './wait-for.ts'

/** User and group ids to run servers as; `undefined` when we are not root (then we run them as ourselves). */
export interface ServerUser {
  readonly uid: number
  readonly gid: number
}

/** The user servers run as: the one the embedded server runs as (the `postgres` user under root), else ourselves. */
export async function serverUser(): Promise<ServerUser | undefined> {
  return (await serverInstallation()).user
}

// Children still running when the process exits (a test that crashed before its `after` hook) are
// signalled synchronously, so that no server outlives the test run.
const running = new Map<ChildProcess, NodeJS.Signals>()
let exitHookInstalled = false
function killOnExit(child: ChildProcess, signal: NodeJS.Signals): void {
  running.set(child, signal)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const [c, s] of running) c.kill(s)
  })
}

export interface ServerProcessOptions {
  /** For messages: "PgBouncer", "standby PostgreSQL". */
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  /** stdout and stderr go here (appended). */
  readonly logFile: string
  readonly user: ServerUser | undefined
  /** Sent by `stop()`; SIGKILL follows if the process is still there after `stopTimeoutMs`. */
  readonly stopSignal: NodeJS.Signals
  /** Sent if the test process exits while the server still runs. */
  readonly emergencySignal: NodeJS.Signals
  readonly env?: NodeJS.ProcessEnv
}

export interface ServerProcess {
  readonly pid: number | undefined
  /** Set once the process has exited: why, as an Error naming the exit code and the log's tail. */
  exitError(): Error | undefined
  /** The last lines of the log file. */
  logTail(lines?: number): Promise<string>
  /** Stop it (idempotent); wait at most `timeoutMs` for the stop signal, then kill. (Default: 30000) */
  stop(timeoutMs?: number): Promise<void>
}

/** Start `command` as `user`, logging to `logFile`. Resolves once spawned; readiness is the caller's to check. */
export function startServerProcess(options: ServerProcessOptions): ServerProcess {
  // A file, not pipes: pipes would be handles of ours keeping the test process alive.
  const fd = openSync(options.logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(options.command, options.args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, LC_MESSAGES: 'C', ...options.env },
      ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    })
  } finally {
    closeSync(fd)
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let spawnError: Error | undefined
  const exit = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      spawnError = error
      exited ??= { code: null, signal: null }
      resolve()
    })
    child.once('exit', (code, signal) => {
      exited = { code, signal }
      running.delete(child)
      resolve()
    })
  })
  killOnExit(child, options.emergencySignal)
  child.unref()
  let stopping: Promise<void> | undefined

  const logTail = async (lines = 30): Promise<string> => {
    const text = await readFile(options.logFile, 'utf8').catch(() => '')
    return text.split('\n').slice(-lines).join('\n')
  }

  return {
    pid: child.pid,
    exitError() {
      if (exited === undefined) return undefined
      const how = spawnError ? spawnError.message : exited.signal ? `killed by ${exited.signal}` : `exit code ${exited.code}`
      return new Error(`${options.name} exited (${how}); see ${options.logFile}`)
    },
    logTail,
    stop(timeoutMs = 30_000) {
      stopping ??= (async () => {
        if (exited !== undefined) return
        // Awaited from here on: the process must stay up until the child is gone.
        child.ref()
        child.kill(options.stopSignal)
        let timer: NodeJS.Timeout | undefined
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs)
        })
        const outcome = await Promise.race([exit, timedOut])
        clearTimeout(timer)
        if (outcome === 'timeout') {
          child.kill('SIGKILL')
          await waitFor(() => exited !== undefined, { what: `${options.name} (pid ${child.pid}) to die after SIGKILL`, timeoutMs: 10_000 })
        }
      })()
      return stopping
    },
  }
}
