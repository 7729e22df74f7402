/**
 * Client CPU time, read inside a peer's worker thread. Each peer runs in a worker of a host
 * process that runs nothing else at the time, so two clocks are read around every run:
 *
 * - the worker's own thread: `process.threadCpuUsage()` where Node has it (added in 23.9,
 *   backported to 22; not in 20); elsewhere on Linux `/proc/thread-self/schedstat`, the kernel's
 *   on-CPU time of the calling thread in nanoseconds (the same figure: a synchronous read runs on
 *   the calling thread); elsewhere the whole process's `process.cpuUsage()`, said so in the results.
 * - the whole host process (`process.cpuUsage()`): adds V8's helper threads (garbage collection,
 *   compilation), which a library's allocations cost too, and the host's idle threads.
 */
import { readFileSync } from 'node:fs'

export type ThreadCpuSource = 'process.threadCpuUsage' | '/proc/thread-self/schedstat' | 'process.cpuUsage (whole process)'

export interface CpuClock {
  source: ThreadCpuSource
  /** CPU time so far, in µs. */
  read(): number
}

type ThreadCpuUsage = () => NodeJS.CpuUsage

const SCHEDSTAT = '/proc/thread-self/schedstat'

function schedstatMicros(): number {
  // "<on-CPU ns> <run-queue wait ns> <timeslices>"
  const onCpuNs = Number(readFileSync(SCHEDSTAT, 'utf8').split(' ', 1)[0])
  if (!Number.isFinite(onCpuNs)) throw new Error(`${SCHEDSTAT} is not in the expected format`)
  return onCpuNs / 1_000
}

let chosen: CpuClock | undefined

/** The best clock of the calling thread's CPU time this Node and OS offer. */
export function threadCpuClock(): CpuClock {
  if (chosen !== undefined) return chosen
  const threadCpuUsage = (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage
  if (typeof threadCpuUsage === 'function') {
    chosen = {
      source: 'process.threadCpuUsage',
      read: () => {
        const usage = threadCpuUsage.call(process)
        return usage.user + usage.system
      },
    }
    return chosen
  }
  try {
    // A kernel without scheduler statistics reports 0 for a thread that has plainly run.
    if (process.platform === 'linux' && schedstatMicros() > 0) {
      chosen = { source: SCHEDSTAT, read: schedstatMicros }
      return chosen
    }
  } catch {
    // Not readable here: fall through to the whole process.
  }
  chosen = { source: 'process.cpuUsage (whole process)', read: processCpuMicros }
  return chosen
}

export function processCpuMicros(): number {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}
