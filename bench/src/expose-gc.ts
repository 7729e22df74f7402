/**
 * The fairness and memory workload needs `global.gc()` for steady heap readings. When the process
 * was not started with --expose-gc, the benchmark runs itself again in a child process that is.
 */
import { spawn } from 'node:child_process'
import { constants } from 'node:os'

const RELAUNCHED = 'PGSTEWARD_BENCH_RELAUNCHED'

export function needsRelaunchForGc(): boolean {
  return typeof globalThis.gc !== 'function' && process.env[RELAUNCHED] === undefined
}

/** Run this same script with --expose-gc added; resolves with the child's exit code. */
export function relaunchWithExposedGc(): Promise<number> {
  return new Promise((resolve, reject) => {
    // execArgv keeps tsx's loader (and --cpu-prof, when profiling); argv[1] is this script.
    const child = spawn(process.execPath, [...process.execArgv, '--expose-gc', ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, [RELAUNCHED]: '1' },
    })
    // A terminal's Ctrl-C reaches the child too (same process group); it cleans up and exits,
    // and this parent waits for it. A signal sent to the parent alone is passed on.
    const forward = (signal: NodeJS.Signals): void => {
      if (child.exitCode === null) child.kill(signal)
    }
    const onInterrupt = (): void => undefined
    process.on('SIGINT', onInterrupt)
    process.on('SIGTERM', forward)
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      process.off('SIGINT', onInterrupt)
      process.off('SIGTERM', forward)
      // Killed by a signal: the shell's convention, 128 + its number.
      resolve(code ?? (signal === null ? 1 : 128 + constants.signals[signal]))
    })
  })
}
