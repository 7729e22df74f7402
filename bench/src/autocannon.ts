/**
 * autocannon as a separate process: the HTTP load must not share the event loop (or the CPU
 * accounting) of the service it measures. Its `--json` output is parsed into the figures used.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { runBounded } from './child-process.ts'
import { packageVersion } from './machine.ts'

/** Beyond its -d, how long connecting and exiting may take before autocannon is killed. */
const EXIT_GRACE_MS = 30_000

export interface AutocannonOptions {
  url: string
  connections: number
  seconds: number
  headers: Record<string, string>
}

export interface AutocannonFigures {
  /** autocannon's requests.average: the mean of its per-second request counts. */
  requestsPerSec: number
  /** Latencies as autocannon reports them, in ms. */
  p50Ms: number
  p97_5Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  /** Connection errors and timeouts, as autocannon counts them. */
  errors: number
  timeouts: number
}

/** The fields of autocannon's JSON result read here (see its lib/aggregateResult.js). */
interface AutocannonJson {
  requests: { average: number; total: number }
  latency: { p50: number; p97_5: number; p99: number }
  non2xx: number
  errors: number
  timeouts: number
}

export function autocannonVersion(): string {
  return packageVersion('autocannon')
}

/** Its command-line entry, found the way Node resolves the package (hoisted to the root or not). */
function autocannonBin(): string {
  const require = createRequire(import.meta.url)
  return path.join(path.dirname(require.resolve('autocannon/package.json')), 'autocannon.js')
}

export async function runAutocannon(options: AutocannonOptions): Promise<AutocannonFigures> {
  const headers = Object.entries(options.headers).flatMap(([name, value]) => ['--headers', `${name}=${value}`])
  const args = [
    autocannonBin(),
    '--json',
    '--no-progress',
    '--connections',
    String(options.connections),
    '--duration',
    String(options.seconds),
    ...headers,
    options.url,
  ]
  const { code, stdout, stderr } = await runBounded(process.execPath, args, process.env, options.seconds * 1_000 + EXIT_GRACE_MS)
  if (code !== 0) throw new Error(`autocannon exited with ${String(code)}: ${stderr.trim().split('\n').slice(-3).join(' ')}`)
  // --json prints one JSON line; anything else on stdout would be a warning.
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((candidate) => candidate.startsWith('{'))
  if (line === undefined) throw new Error(`autocannon printed no JSON result: ${stdout.slice(0, 200)}`)
  const result = JSON.parse(line) as AutocannonJson
  return {
    requestsPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p97_5Ms: result.latency.p97_5,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  }
}
