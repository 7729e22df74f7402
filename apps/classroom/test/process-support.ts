/**
 * Running the service as a process, the way `npm start` runs it, for the process tests: launch it,
 * wait for it to listen, watch what it prints and how it exits.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url))
export const scratch = await mkdtemp(path.join(os.tmpdir(), 'classroom-process-'))
await chmod(scratch, 0o755)
after(() => rm(scratch, { recursive: true, force: true }))

export interface Started {
  child: ChildProcess
  url: Promise<string>
  output: () => string
  exited: Promise<{ code: number | null; signal: string | null }>
}

export function launch(command: string, args: string[], options: { env: Record<string, string>; cwd?: string }): Started {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', LOG_LEVEL: 'warn' }
  // Whatever server the test run uses, the start-up under test uses only what it is given.
  delete env.DATABASE_URL
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]
  Object.assign(env, options.env)
  const child = spawn(command, args, { env, cwd: options.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const url = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m?.[1]) resolve(m[1])
    })
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
    child.on('exit', (code, signal) => reject(new Error(`exited before listening (${signal ?? `code ${String(code)}`}):\n${out}`)))
  })
  url.catch(() => undefined)
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  // A safety net for a hung child, not a bound on start-up: a first start runs initdb, which on a
  // loaded two-core machine has taken more than 90 s. It fires before the runner's 300 s limit, so a hung child is killed, not leaked.
  const killer = setTimeout(() => child.kill('SIGKILL'), 240_000)
  void exited.then(() => clearTimeout(killer))
  return { child, url, output: () => out, exited }
}

export const startMain = (env: Record<string, string>): Started => launch(process.execPath, ['--import', 'tsx', main], { env })

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) if (await condition()) return
  assert.fail(`timed out waiting for ${what}`)
}

export async function postmasterPid(dataDir: string): Promise<number> {
  return Number((await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0])
}

export async function accepts(url: string): Promise<boolean> {
  const { port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}

/** What the process printed, without Node's own warnings (a dependency's deprecation notice is not ours to word). */
export const ownLines = (output: string): string[] =>
  output
    .trim()
    .split('\n')
    .filter((line) => !/^\(node:\d+\) |^\(Use `node --trace-/.test(line))

export async function login(url: string, username: string): Promise<string> {
  const res = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username }) })
  assert.equal(res.status, 200)
  return ((await res.json()) as { accessToken: string }).accessToken
}

/** An upload whose body is sent in two halves, the second when `finish()` is called. */
export function slowUpload(url: string, token: string): { finish: () => void; response: Promise<{ status: number; body: string }> } {
  const body = Buffer.alloc(4_000, 7)
  const request = http.request(`${url}/assets?type=image/png`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': body.length },
  })
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('response', (res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    request.on('error', reject)
  })
  request.write(body.subarray(0, 2_000))
  return { finish: () => request.end(body.subarray(2_000)), response }
}

/** Files being uploaded right now, in the service's asset directory. */
export async function uploadsInProgress(dataDir: string): Promise<number> {
  const { readdir } = await import('node:fs/promises')
  return (await readdir(path.join(dataDir, 'files', 'assets')).catch(() => [] as string[])).filter((f) => f.endsWith('.tmp')).length
}

/** Stop gracefully on `signal` while an upload is in flight: the upload completes, the process exits 0. */
export async function assertGracefulStop(run: Started, dataDir: string, signal: NodeJS.Signals, target: ChildProcess = run.child): Promise<void> {
  const url = await run.url
  const upload = slowUpload(url, await login(url, `graceful-${signal}`))
  await until(async () => (await uploadsInProgress(dataDir)) === 1, 'the upload in flight')
  target.kill(signal)
  await sleep(200)
  upload.finish()
  const answer = await upload.response
  assert.equal(answer.status, 201, `the in-flight upload was cut: ${answer.status} ${answer.body}\n${run.output()}`)
  const { code } = await run.exited
  assert.equal(code, 0, run.output())
  assert.equal(await accepts(url), false, 'nothing listens any more')
}

/**
 * A project whose `npm start` is the root package.json's start script and whose build step is a
 * no-op: the real build would rewrite dist/ under the tests running beside this one.
 */
export async function npmProject(): Promise<string> {
  const rootPackage = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }
  const project = await mkdtemp(path.join(scratch, 'npm-project-'))
  await writeFile(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'start-check', private: true, scripts: { build: 'true', start: rootPackage.scripts.start } }),
  )
  for (const name of ['apps', 'node_modules', 'packages']) await symlink(path.join(repoRoot, name), path.join(project, name))
  return project
}
