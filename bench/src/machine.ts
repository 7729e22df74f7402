/**
 * Where and with what the figures were measured: machine, Node, PostgreSQL, each peer's version
 * (from its own package.json), and the pgsteward commit, since the library changes under the bench.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import type { Runtime } from './peer-hosts.ts'

export interface MachineDescription {
  hostname: string
  date: string
  cpuModel: string
  cores: number
  memoryGiB: number
  os: string
  /** The Node running the bench itself (pgbench, the classroom service, the statistics). */
  node: string
  /** The Node versions the peers ran on, the first the primary. */
  runtimes: Runtime[]
  postgres: string
  /** Where the server came from: the embedded one this run started, or DATABASE_URL. */
  server: 'embedded' | 'DATABASE_URL'
  pgbench: string | null
  versions: Record<string, string>
  pgstewardCommit: string | null
}

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const REPO_ROOT = path.resolve(BENCH_DIR, '..')

/** A package's version from its package.json, found the way Node resolves packages (walking up). */
export function packageVersion(name: string): string {
  for (let dir = BENCH_DIR; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'node_modules', name, 'package.json')
    if (existsSync(manifest)) return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
    if (path.dirname(dir) === dir) return 'not installed'
  }
}

/** HEAD and whether the working tree differs from it (another engineer edits concurrently). */
function gitCommit(): string | null {
  try {
    const run = (args: string[]): string =>
      execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const head = run(['rev-parse', '--short', 'HEAD'])
    const dirty = run(['status', '--porcelain', '--', 'packages/pgsteward']) !== ''
    return dirty ? `${head} + uncommitted changes in packages/pgsteward` : head
  } catch {
    return null
  }
}

export async function describeMachine(
  admin: pg.Client,
  server: MachineDescription['server'],
  pgbenchVersion: string | null,
  packages: readonly string[],
  runtimes: Runtime[],
): Promise<MachineDescription> {
  const { rows } = await admin.query<{ version: string }>('SELECT version()')
  const cpus = os.cpus()
  return {
    hostname: os.hostname(),
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    runtimes,
    postgres: rows[0]?.version ?? 'unknown',
    server,
    pgbench: pgbenchVersion,
    versions: Object.fromEntries(packages.map((name) => [name, packageVersion(name)])),
    pgstewardCommit: gitCommit(),
  }
}
