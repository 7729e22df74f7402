import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'classroom-start-'))
// mkdtemp makes it private: the postgres user could not enter it and the cluster would be
// relocated (process-private-dir.test.ts tests that); here it stays inside.
await chmod(dataDir, 0o755)
after(() => rm(dataDir, { recursive: true, force: true }))

function start(env: Record<string, string>): { child: ChildProcess; url: Promise<string>; output: () => string; exited: Promise<number | null> } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', ...env }
  // The start-up under test is the embedded one, whatever server the test run itself uses.
  delete childEnv.DATABASE_URL
  const child = spawn(process.execPath, ['--import', 'tsx', main], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const url = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString()
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m?.[1]) resolve(m[1])
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
    child.on('exit', () => reject(new Error(`exited before listening:\n${out}`)))
  })
  url.catch(() => undefined)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  void exited.then(() => clearTimeout(killer))
  return { child, url, output: () => out, exited }
}

describe('npm start', () => {
  it('starts on a fresh data directory, answers /health, stops cleanly on SIGTERM, and keeps its data across restarts', async () => {
    const first = start({})
    const url = await first.url
    const health = await fetch(`${url}/health`)
    assert.equal(health.status, 200)
    const login = (await (
      await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'persistent' }) })
    ).json()) as { user: { id: number } }
    first.child.kill('SIGTERM')
    assert.equal(await first.exited, 0, first.output())
    assert.match(first.output(), /JWT_SECRET and SERVICE_SECRET not set: using the ones kept in .*secrets\.json/)

    const second = start({})
    const url2 = await second.url
    const again = (await (
      await fetch(`${url2}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'persistent' }) })
    ).json()) as { user: { id: number } }
    assert.equal(again.user.id, login.user.id, 'the user from the first run is still there')
    second.child.kill('SIGINT')
    assert.equal(await second.exited, 0, second.output())
  })

  it('refuses to start in production without its secrets, saying what to set', async () => {
    const run = start({ NODE_ENV: 'production' })
    assert.equal(await run.exited, 1)
    assert.match(run.output(), /JWT_SECRET is not set: in production it must be set/)
    assert.match(run.output(), /SERVICE_SECRET is not set/)
  })

  it('refuses a malformed configuration with every problem listed', async () => {
    const run = start({ PORT: 'eighty', DB_POOL_MAX: '0' })
    assert.equal(await run.exited, 1)
    assert.match(run.output(), /PORT/)
    assert.match(run.output(), /DB_POOL_MAX/)
  })
})
