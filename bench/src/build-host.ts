/**
 * Compiles the code that runs in the host processes and peer workers (peer-host.ts, peer-worker.ts
 * and what they import) to plain JavaScript in bench/dist/, with the project's own TypeScript,
 * before every run. So the measured path loads no TypeScript loader (tsx registers module hooks),
 * `pgsteward` is imported from its built dist/ by Node's own resolution, and a Node without type
 * stripping (20) runs the same files as Node 24. Type checking is `npm run typecheck`'s job.
 */
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { promisify } from 'node:util'
import { BENCH_DIR } from './machine.ts'

const run = promisify(execFile)
const OUT_DIR = path.join(BENCH_DIR, 'dist')
const BUILD_TIMEOUT_MS = 120_000

/** Build, and return the host entry point's path. */
export async function buildHost(): Promise<string> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  // Files of modules since removed must not linger and be loaded by mistake.
  await rm(OUT_DIR, { recursive: true, force: true })
  try {
    await run(process.execPath, [tsc, '-p', path.join(BENCH_DIR, 'tsconfig.host.json')], { timeout: BUILD_TIMEOUT_MS })
  } catch (err) {
    const output = (err as { stdout?: string }).stdout ?? ''
    throw new Error(`compiling the bench's host code failed: ${output.trim() || (err instanceof Error ? err.message : String(err))}`, { cause: err })
  }
  return path.join(OUT_DIR, 'peer-host.js')
}
