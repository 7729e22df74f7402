/**
 * A load generator (pgbench, autocannon) run as a separate process: its output collected, killed
 * at a deadline, and killed if the benchmark itself exits mid-run so it never keeps loading the
 * server on its own.
 */
import { spawn } from 'node:child_process'

export interface ProcessOutput {
  code: number | null
  stdout: string
  stderr: string
}

export function runBounded(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ProcessOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const killOnExit = (): void => void child.kill('SIGKILL')
    process.once('exit', killOnExit)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      process.off('exit', killOnExit)
      reject(err)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      process.off('exit', killOnExit)
      resolve({ code, stdout, stderr })
    })
  })
}
