/**
 * A server left running in a data directory. A process killed with `kill -9` cannot stop its
 * PostgreSQL, which keeps the data directory locked (postmaster.pid), and the next start would
 * fail with "lock file already exists". Before starting, the lock is examined: a stale file (its
 * process is gone, or is some other program now) is removed; a live server whose owner (the
 * process that started it, recorded in pgsteward.json) is gone is stopped with a fast shutdown; a
 * server whose owner is still running is someone else's, and starting is refused.
 */
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { EmbeddedServerError } from './embedded-server-error.ts'

/** The process that started the server, as recorded in the data directory. */
export interface Owner {
  pid: number
  /** Start time of the process (Linux clock ticks since boot), against pid reuse; null if unknown. */
  startTicks: number | null
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started. Null where /proc does not exist. */
export async function startTicksOf(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return null
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[19])
  return Number.isFinite(ticks) ? ticks : null
}

export async function isSameProcess(owner: Owner): Promise<boolean> {
  if (!isAlive(owner.pid)) return false
  if (owner.startTicks === null) return true
  return (await startTicksOf(owner.pid)) === owner.startTicks
}

/** Whether `pid` is a PostgreSQL server for `dataDir` (where /proc can tell; otherwise assumed). */
async function servesDirectory(pid: number, dataDir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined)
  if (cmdline === undefined) return isAlive(pid)
  const args = cmdline.split('\0')
  const dirIndex = args.indexOf('-D')
  return dirIndex >= 0 && path.resolve(args[dirIndex + 1] ?? '') === path.resolve(dataDir)
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  for (let waited = 0; waited < timeoutMs; waited += 100) {
    if (!isAlive(pid)) return true
    await sleep(100)
  }
  return !isAlive(pid)
}

export async function clearLeftoverServer(dataDir: string, owner: Owner | undefined, log: (line: string) => void): Promise<void> {
  const lockFile = path.join(dataDir, 'postmaster.pid')
  const lock = await readFile(lockFile, 'utf8').catch(() => undefined)
  if (lock === undefined) return
  const pid = Number.parseInt(lock.split('\n')[0] ?? '', 10)
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !(await servesDirectory(pid, dataDir))) {
    // Stale: the server is gone (its machine rebooted, or it was killed with its owner).
    await rm(lockFile, { force: true })
    return
  }
  if (owner !== undefined && owner.pid !== process.pid && (await isSameProcess(owner))) {
    // Its owner may be on its way out (a parent's death stops it): give it a moment.
    log(`waiting for process ${owner.pid}, which runs the PostgreSQL server in ${dataDir}, to stop`)
    for (let waited = 0; waited < 15_000 && (await isSameProcess(owner)); waited += 250) await sleep(250)
    if (await isSameProcess(owner)) {
      throw new EmbeddedServerError(
        `The PostgreSQL data directory ${dataDir} is in use by process ${owner.pid}, which is still running: stop it first, or use another data directory.`,
      )
    }
    if (!isAlive(pid)) return
  }
  log(`stopping the PostgreSQL server (pid ${pid}) left running in ${dataDir} by a process that ended without stopping it`)
  process.kill(pid, 'SIGINT') // fast shutdown: ends sessions, writes a checkpoint
  if (await waitForExit(pid, 30_000)) return
  process.kill(pid, 'SIGQUIT') // immediate shutdown: recovery runs at the next start
  if (await waitForExit(pid, 10_000)) return
  throw new EmbeddedServerError(`A PostgreSQL server (pid ${pid}) left running in ${dataDir} does not stop: stop it (kill ${pid}) and start again.`)
}
