/**
 * pgsteward as a user gets it. `npm pack` makes the tarball that would be published; publint and
 * arethetypeswrong read it; then it is installed with its dependencies into fresh projects under
 * the OS temporary directory, outside this repository, and used there as a user would: plain
 * `node` importing every entry point (ESM) and requiring it (CommonJS), a real query, transaction,
 * pg.Pool drop-in with a cursor and metrics against the test server, and `tsc --noEmit` on a
 * strict TypeScript consumer under module NodeNext and moduleResolution bundler.
 *
 * Everything is read from the packed package.json, so nothing here needs editing when it changes:
 * the entry points are its `exports`; the Node majors are the ones `engines` names (each fetched
 * with nodeBinary); and the dependency versions are, in one project, the newest of every declared
 * range (dependencies and peer dependencies) and, in the other, the lowest. Nothing may appear on
 * stderr: a deprecation warning from pg would reach every user.
 *
 * Installs go through npm's own cache with --prefer-offline: a rerun touches the registry only for
 * what the cache lacks.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, nodeBinary, type NodeBinary } from '@pgsteward/testkit'

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURES = fileURLToPath(new URL('./consumer/', import.meta.url))
/** A first run downloads three Node releases and the dependencies; later runs find them cached. */
const PREPARE_TIMEOUT_MS = 9 * 60_000
const STEP_TIMEOUT_MS = 3 * 60_000

interface Manifest {
  name: string
  version: string
  engines: { node: string }
  exports: Record<string, string | { types?: string; default?: string }>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

const manifest = JSON.parse(readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as Manifest
const entryPoints = Object.entries(manifest.exports)
  .filter(([, target]) => typeof target === 'object')
  .map(([subpath]) => (subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`))
const majors = nodeMajors(manifest.engines.node)

/**
 * The Node majors `engines` promises, each as `^major.minor.patch`: an open range (`>=24`) would
 * promise releases no test has run, so it is refused here.
 */
function nodeMajors(range: string): number[] {
  return range.split('||').map((part) => {
    const major = /^\s*\^(\d+)\.\d+\.\d+\s*$/.exec(part)?.[1]
    if (major === undefined)
      throw new Error(`engines.node part "${part.trim()}" is not ^major.minor.patch: engines must name only the majors the consumer test runs`)
    return Number(major)
  })
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(file: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeout ?? STEP_TIMEOUT_MS, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
        resolve({ code, stdout, stderr: err !== null && err.killed ? `${stderr}\n(killed after ${options.timeout ?? STEP_TIMEOUT_MS} ms)` : stderr })
      },
    )
  })
}

function describeRun(what: string, result: Run): string {
  return `${what} exited ${result.code}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`
}

/**
 * The environment for npm in the consumer projects: `npm test` sets npm_config_local_prefix,
 * npm_package_* and the like for this repository, which would make a child npm act on it.
 * Only settings that say how to reach the registry and where the cache is are kept.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry|cafile|ca|proxy|https_proxy|noproxy|strict_ssl)$/i
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) || keep.test(name)))
}

async function npm(args: readonly string[], cwd: string): Promise<string> {
  const result = await run('npm', args, { cwd, env: npmEnv(), timeout: PREPARE_TIMEOUT_MS })
  if (result.code !== 0) throw new Error(describeRun(`npm ${args.join(' ')}`, result))
  return result.stdout
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map(Number)
  const pb = b.split(/[.+-]/).map(Number)
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** The lowest and the newest published versions of `name` within `range`, as the registry (or npm's cache) lists them. */
async function rangeEnds(name: string, range: string, cwd: string): Promise<{ lowest: string; newest: string }> {
  const stdout = await npm(['view', `${name}@${range}`, 'version', '--json', '--prefer-offline'], cwd)
  const parsed = JSON.parse(stdout) as unknown
  const versions = (Array.isArray(parsed) ? parsed : [parsed]).filter((v): v is string => typeof v === 'string').sort(compareVersions)
  const lowest = versions[0]
  const newest = versions.at(-1)
  if (lowest === undefined || newest === undefined) throw new Error(`no published version of ${name} satisfies ${range}`)
  return { lowest, newest }
}

/** Where this repository installed `name`, found as Node finds it (some packages do not export their package.json). */
function installedManifest(name: string): string {
  for (let dir = PACKAGE_DIR; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name, 'package.json')
    if (existsSync(candidate)) return candidate
    if (path.dirname(dir) === dir) throw new Error(`${name} is not installed in this repository: run npm ci`)
  }
}

/** The version this repository installed, so the consumer's own tools (TypeScript, pg-cursor) come from npm's cache. */
function repositoryVersion(name: string): string {
  return (JSON.parse(readFileSync(installedManifest(name), 'utf8')) as { version: string }).version
}

/** A project under the OS temporary directory sees no node_modules of an ancestor, or it would not be a fresh one. */
function assertOutsideAnyProject(dir: string): void {
  for (let parent = path.dirname(dir); ; parent = path.dirname(parent)) {
    if (existsSync(path.join(parent, 'node_modules')) || existsSync(path.join(parent, 'package.json'))) {
      throw new Error(`${parent} holds a node_modules or package.json that the consumer project would see; point TMPDIR elsewhere`)
    }
    if (path.dirname(parent) === parent) return
  }
}

interface Project {
  label: 'newest' | 'lowest'
  dir: string
  /** Dependency versions installed, as node_modules has them. */
  installed: Record<string, string>
}

const CONSUMER_TSCONFIG = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noEmit: true,
  skipLibCheck: false,
  target: 'ES2022',
  lib: ['ES2023'],
}

async function writeProject(dir: string, label: Project['label'], dependencies: Record<string, string>): Promise<void> {
  await mkdir(dir)
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: `pgsteward-consumer-${label}`, private: true, type: 'module', dependencies }, null, 2))
  for (const file of ['smoke.mjs', 'smoke.cjs', 'consumer.ts', 'consumer-require.cts']) await copyFile(path.join(FIXTURES, file), path.join(dir, file))
  // Every entry point, also those consumer.ts does not name yet, must resolve with types.
  const imports = entryPoints.map((name, i) => `import * as entry${i} from '${name}'`)
  await writeFile(
    path.join(dir, 'entry-points.ts'),
    `${imports.join('\n')}\nexport const entryPoints = [${entryPoints.map((_, i) => `entry${i}`).join(', ')}]\n`,
  )
  const tsconfig = (compilerOptions: Record<string, unknown>, files: string[]): string =>
    JSON.stringify({ compilerOptions: { ...CONSUMER_TSCONFIG, ...compilerOptions }, files }, null, 2)
  await writeFile(
    path.join(dir, 'tsconfig.nodenext.json'),
    tsconfig({ module: 'NodeNext', moduleResolution: 'NodeNext', verbatimModuleSyntax: true }, ['consumer.ts', 'consumer-require.cts', 'entry-points.ts']),
  )
  await writeFile(path.join(dir, 'tsconfig.bundler.json'), tsconfig({ module: 'ESNext', moduleResolution: 'bundler' }, ['consumer.ts', 'entry-points.ts']))
}

async function installedVersions(dir: string, names: readonly string[]): Promise<Record<string, string>> {
  const versions: Record<string, string> = {}
  for (const name of names) {
    versions[name] = (JSON.parse(await readFile(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  }
  return versions
}

const databaseUrl = await createTestDatabase('consumer')
const scratch = await mkdtemp(path.join(os.tmpdir(), 'pgsteward-consumer-'))
after(() => rm(scratch, { recursive: true, force: true }))

let tarball = ''
let packedFiles: string[] = []
const projects: Project[] = []
const nodes = new Map<number, NodeBinary>()

before(
  async () => {
    assertOutsideAnyProject(scratch)
    const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', scratch], PACKAGE_DIR)) as { filename: string; files: { path: string }[] }[]
    const first = packed[0]
    assert.ok(first !== undefined, 'npm pack reported no tarball')
    tarball = path.join(scratch, path.basename(first.filename))
    packedFiles = first.files.map((f) => f.path)

    const ranges = { ...manifest.dependencies, ...manifest.peerDependencies }
    const ends = Object.fromEntries(
      await Promise.all(Object.entries(ranges).map(async ([name, range]) => [name, await rangeEnds(name, range, scratch)] as const)),
    )
    const tools = { typescript: repositoryVersion('typescript'), 'pg-cursor': repositoryVersion('pg-cursor') }
    for (const label of ['newest', 'lowest'] as const) {
      const pinned = Object.fromEntries(Object.entries(ends).map(([name, end]) => [name, label === 'newest' ? end.newest : end.lowest]))
      const dir = path.join(scratch, label)
      await writeProject(dir, label, { pgsteward: `file:${tarball}`, ...pinned, ...tools })
      projects.push({ label, dir, installed: {} })
    }
    const [binaries] = await Promise.all([
      Promise.all(majors.map((major) => nodeBinary(major))),
      ...projects.map((p) => npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], p.dir)),
    ])
    for (const binary of binaries) nodes.set(binary.major, binary)
    for (const project of projects) project.installed = await installedVersions(project.dir, Object.keys(ranges))
  },
  { timeout: PREPARE_TIMEOUT_MS },
)

after(() => {
  const ran = [...nodes.values()].map((n) => `${n.version} (${n.origin})`).join(', ')
  console.log(`consumer test: Node ${ran}`)
  for (const p of projects)
    console.log(
      `consumer test, ${p.label} of every declared range: ${Object.entries(p.installed)
        .map(([n, v]) => `${n}@${v}`)
        .join(', ')}`,
    )
})

describe('the packed tarball', () => {
  it('passes publint', async () => {
    const result = await run(process.execPath, [bin('publint'), 'run', tarball, '--level', 'warning'], { cwd: PACKAGE_DIR })
    assert.equal(result.code, 0, describeRun('publint', result))
    assert.doesNotMatch(result.stdout, /Errors?:|Warnings?:/, describeRun('publint', result))
  })

  it('passes arethetypeswrong for an ES-module-only package', async () => {
    // esm-only: the node10 and node16-from-CommonJS columns describe TypeScript settings that
    // cannot resolve an ESM-only package. require() from CommonJS is checked for real below:
    // Node's require of ESM, and TypeScript's (module NodeNext) on consumer-require.cts.
    const result = await run(process.execPath, [bin('attw'), tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-color'], { cwd: scratch })
    assert.equal(result.code, 0, describeRun('attw', result))
  })

  it('holds the built package, its README, LICENSE and CHANGELOG, the Grafana dashboard, and the sources its maps name; no tests', async () => {
    // grafana/: the dashboard JSON that docs/observability.md tells users to import ships with the version whose metrics it reads.
    const allowed = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|grafana\/[\w-]+\.json|dist\/.+\.(js|d\.ts|js\.map|d\.ts\.map)|src\/.+\.ts)$/
    assert.deepEqual(
      packedFiles.filter((f) => !allowed.test(f)),
      [],
    )
    for (const required of ['README.md', 'LICENSE', 'CHANGELOG.md']) assert.ok(packedFiles.includes(required), `${required} is packed`)
    for (const target of Object.values(manifest.exports).flatMap((t) => (typeof t === 'object' ? Object.values(t) : [t]))) {
      assert.ok(packedFiles.includes(path.posix.normalize(target)), `${target} named in exports is packed`)
    }
    const sources = new Set<string>()
    for (const map of packedFiles.filter((f) => f.endsWith('.map'))) {
      const { sources: named } = JSON.parse(await readFile(path.join(PACKAGE_DIR, map), 'utf8')) as { sources: string[] }
      for (const source of named) sources.add(path.posix.join(path.posix.dirname(map), source))
    }
    assert.deepEqual(
      [...sources].filter((s) => !packedFiles.includes(s)),
      [],
      'every source a map names is packed',
    )
    assert.deepEqual(
      packedFiles.filter((f) => f.startsWith('src/') && !sources.has(f)),
      [],
      'no source that no map names',
    )
  })
})

// Two steps at a time: each is a process of its own, and each smoke uses a table of its own.
for (const label of ['newest', 'lowest'] as const) {
  describe(`installed in a fresh project with the ${label} version of every dependency`, { concurrency: 2 }, () => {
    const project = (): Project => projects.find((p) => p.label === label) as Project
    const node = (major: number): string => (nodes.get(major) as NodeBinary).path

    for (const major of majors) {
      it(`Node ${major}: imports every entry point as ESM; query, transaction, the pg.Pool drop-in with a cursor and metrics work; nothing on stderr`, async (t) => {
        const result = await run(node(major), ['smoke.mjs'], { cwd: project().dir, env: smokeEnv(`smoke_${label}_${major}`) })
        assert.equal(result.code, 0, describeRun('node smoke.mjs', result))
        assert.equal(result.stderr, '', describeRun('node smoke.mjs printed on stderr', result))
        checkExports(t, result)
      })

      it(`Node ${major}: require()s every entry point from CommonJS and runs a query; nothing on stderr`, async (t) => {
        const result = await run(node(major), ['smoke.cjs'], { cwd: project().dir, env: smokeEnv(`smoke_cjs_${label}_${major}`) })
        assert.equal(result.code, 0, describeRun('node smoke.cjs', result))
        assert.equal(result.stderr, '', describeRun('node smoke.cjs printed on stderr', result))
        checkExports(t, result)
      })
    }

    // What tsc concludes does not depend on the Node running it: the newest project, the one a
    // new user gets, is checked on every major; the lowest one on the newest major.
    for (const major of label === 'newest' ? majors : majors.slice(-1)) {
      for (const mode of ['nodenext', 'bundler'] as const) {
        it(`Node ${major}: a strict TypeScript consumer type-checks under ${mode === 'nodenext' ? 'module NodeNext (ESM and CommonJS files)' : 'moduleResolution bundler'}`, async () => {
          const tsc = path.join(project().dir, 'node_modules', 'typescript', 'bin', 'tsc')
          const result = await run(node(major), [tsc, '-p', `tsconfig.${mode}.json`], { cwd: project().dir })
          assert.equal(result.code, 0, describeRun(`tsc -p tsconfig.${mode}.json`, result))
        })
      }
    }
  })
}

function bin(name: string): string {
  const manifestPath = installedManifest(name === 'attw' ? '@arethetypeswrong/cli' : name)
  const { bin: bins } = JSON.parse(readFileSync(manifestPath, 'utf8')) as { bin: string | Record<string, string> }
  const relative = typeof bins === 'string' ? bins : bins[name]
  assert.ok(relative !== undefined, `${name} declares its executable`)
  return path.join(path.dirname(manifestPath), relative)
}

function smokeEnv(table: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, SMOKE_DATABASE_URL: databaseUrl, SMOKE_TABLE: table, SMOKE_ENTRY_POINTS: JSON.stringify(entryPoints) }
}

function checkExports(t: TestContext, result: Run): void {
  const report = JSON.parse(result.stdout) as { node: string; exported: Record<string, string[]> }
  assert.deepEqual(Object.keys(report.exported), entryPoints)
  assert.ok(report.exported[manifest.name]?.includes('createDatabase'), 'pgsteward exports createDatabase')
  t.diagnostic(`ran on ${report.node}`)
}
