/**
 * pgbench, run as a separate process against the same server: the ceiling a C client with one
 * real server connection per client reaches. Its tps and mean latency are parsed from its report,
 * its CPU taken from the kernel's accounting of reaped children.
 *
 * No percentiles: pgbench 15's per-transaction log (-l) times transactions with a clock it
 * refreshes lazily, once per pass over its clients, so most SELECT 1 transactions are logged
 * as taking 0 µs. Its mean (clients / tps) is reported instead.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { runBounded } from './child-process.ts'
import type { RunSample } from './results.ts'
import { LatencyHistogram } from './stats.ts'

export type PgbenchProtocol = 'simple' | 'extended' | 'prepared'

export interface PgbenchRunOptions {
  /** Names the script and log files inside the work directory. */
  name: string
  script: string
  protocol: PgbenchProtocol
  clients: number
  threads: number
  seconds: number
}

export interface PgbenchRun {
  sample: RunSample
  /** Always empty: see above. */
  latencies: LatencyHistogram
}

const PGBENCH = '/usr/bin/pgbench'
/** Beyond its -T, how long connecting and exiting may take before pgbench is killed. */
const OVERRUN_MS = 60_000

export class Pgbench {
  readonly version: string
  readonly #url: URL
  /** Where the scripts are written; removed by dispose(), or at exit if the run is cut short. */
  readonly #workDir: string
  readonly #removeOnExit: () => void

  private constructor(version: string, url: string, workDir: string) {
    this.version = version
    this.#url = new URL(url)
    this.#workDir = workDir
    this.#removeOnExit = () => rmSync(workDir, { recursive: true, force: true })
    process.once('exit', this.#removeOnExit)
  }

  /** The pgbench on this machine, or undefined (its rows are then skipped). */
  static async find(url: string): Promise<Pgbench | undefined> {
    if (!existsSync(PGBENCH)) return undefined
    const version = execFileSync(PGBENCH, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim()
    return new Pgbench(version, url, await mkdtemp(path.join(os.tmpdir(), 'pgsteward-bench-')))
  }

  async dispose(): Promise<void> {
    await rm(this.#workDir, { recursive: true, force: true })
    process.off('exit', this.#removeOnExit)
  }

  async run(options: PgbenchRunOptions): Promise<PgbenchRun> {
    const scriptPath = path.join(this.#workDir, `${options.name}.sql`)
    await writeFile(scriptPath, options.script)
    const url = this.#url
    const args = [
      '--no-vacuum',
      `--protocol=${options.protocol}`,
      `--client=${options.clients}`,
      `--jobs=${options.threads}`,
      `--time=${options.seconds}`,
      `--file=${scriptPath}`,
      `--host=${url.hostname}`,
      `--port=${url.port || '5432'}`,
      `--username=${decodeURIComponent(url.username)}`,
      decodeURIComponent(url.pathname.slice(1)) || 'postgres',
    ]
    // The password goes through the environment, never the command line.
    const env: NodeJS.ProcessEnv = { ...process.env, PGPASSWORD: decodeURIComponent(url.password), PGAPPNAME: 'pgbench' }
    const sslmode = url.searchParams.get('sslmode')
    if (sslmode !== null) env.PGSSLMODE = sslmode

    const cpuBefore = reapedChildrenCpuSeconds()
    const began = performance.now()
    const { code, stdout, stderr } = await runBounded(PGBENCH, args, env, options.seconds * 1_000 + OVERRUN_MS)
    const wallSeconds = (performance.now() - began) / 1_000
    const cpuAfter = reapedChildrenCpuSeconds()

    await rm(scriptPath, { force: true })

    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? /tps = ([\d.]+)/.exec(stdout)?.[1]
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? 0)
    const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0)
    const meanLatency = /latency average = ([\d.]+) ms/.exec(stdout)?.[1]
    const cpuSeconds = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore
    const problem = code !== 0 || tps === undefined ? `pgbench exited with ${code}: ${(stderr || stdout).trim().split('\n').slice(-3).join(' | ')}` : undefined
    return {
      latencies: new LatencyHistogram(),
      sample: {
        opsPerSec: tps === undefined ? 0 : Number(tps),
        ops: processed,
        seconds: options.seconds,
        p50Ms: NaN,
        p99Ms: NaN,
        ...(meanLatency === undefined ? {} : { meanLatencyMs: Number(meanLatency) }),
        // Over pgbench's whole life, connection set-up included; its tps excludes that.
        cpuPercent: cpuSeconds === null ? null : (cpuSeconds / wallSeconds) * 100,
        cpuMicrosPerOp: cpuSeconds === null || processed === 0 ? null : (cpuSeconds * 1e6) / processed,
        processCpuMicrosPerOp: null,
        errors: failed + (problem === undefined ? 0 : 1),
        ...(problem === undefined ? {} : { firstError: problem }),
      },
    }
  }
}

let clockTicksPerSecond: number | undefined

/**
 * CPU seconds of this process's children that have exited and been reaped (cutime + cstime in
 * /proc/self/stat). pgbench is the only child that exits during a run, so the difference around
 * one run is pgbench's CPU, all its threads included. Null off Linux.
 */
function reapedChildrenCpuSeconds(): number | null {
  if (process.platform !== 'linux') return null
  try {
    clockTicksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim()) || 100
    const stat = readFileSync('/proc/self/stat', 'utf8')
    // The command name (field 2) may contain spaces; the fields after its ')' start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const childUser = Number(fields[16 - 3])
    const childSystem = Number(fields[17 - 3])
    return (childUser + childSystem) / clockTicksPerSecond
  } catch {
    return null
  }
}
