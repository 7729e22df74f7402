import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { PoolClosedError, sql } from 'pgsteward'
import { eventually, setup } from './support.ts'

const ctx = await setup('close')

describe('close()', () => {
  it('lets in-flight work finish and refuses new work', async () => {
    const db = ctx.open({ pool: { max: 3 } })
    const inFlight = [1, 2, 3].map((i) => db.one<{ n: number }>(sql`SELECT ${i}::int AS n, pg_sleep(2)`))
    await eventually(
      async () => (await ctx.activity(db.applicationName)).filter((a) => a.state === 'active').length === 3,
      10_000,
      'work running on the server',
    )
    const closing = db.close({ timeoutMs: 5_000 })
    await assert.rejects(db.query(sql`SELECT 1`), PoolClosedError)
    await assert.rejects(
      db.transaction(async () => undefined),
      (e: unknown) => e instanceof PoolClosedError && /closed/.test(e.message),
    )
    assert.deepEqual(
      (await Promise.all(inFlight)).map((r) => r.n),
      [1, 2, 3],
    )
    await closing
    assert.equal(db.stats().total, 0)
    assert.equal((await ctx.activity(db.applicationName)).length, 0, 'no server session left')
  })

  it('cuts stragglers at the deadline, cancelling their query on the server', async () => {
    const db = ctx.open({ pool: { max: 2 }, cancelGraceMs: 500 })
    const straggler = db.query(sql`SELECT pg_sleep(30)`).then(
      () => 'finished',
      (e: unknown) => e,
    )
    await eventually(
      async () => (await ctx.activity(db.applicationName)).some((a) => a.state === 'active' && a.query.includes('pg_sleep(30)')),
      2_000,
      'straggler running on the server',
    )
    const started = Date.now()
    await db.close({ timeoutMs: 300 })
    const took = Date.now() - started
    assert.ok(took >= 290, `close waited its deadline (${took} ms); a straggler it failed to cut would have kept it 30 s`)
    const outcome = await straggler
    assert.ok(outcome instanceof Error, 'the straggler was cut, not left running')
    await eventually(async () => (await ctx.activity(db.applicationName)).length === 0, 3_000, 'server session gone')
  })

  it('leaves nothing behind: the process exits by itself after close()', async () => {
    const { code, out, err } = await runChild('close-and-exit.ts', 'close-exit-child')
    assert.equal(code, 0, `child did not exit cleanly by itself: ${err}`)
    const report = JSON.parse(out) as { straggler: string; stats: { total: number } }
    assert.equal(report.straggler, 'cut')
    assert.equal(report.stats.total, 0)
  })

  it('a process whose work waited for a connection exits by itself, without close(), long before the acquire deadline', async () => {
    const { code, out, err } = await runChild('waited-then-exit.ts', 'waited-exit-child')
    assert.equal(code, 0, `child did not exit by itself before the 60 s acquire deadline: ${err}`)
    assert.deepEqual(JSON.parse(out), { waited: 1, waitedFor: true })
  })
})

/** Run a fixture in a child process; killed (code null) if it has not exited after 45 s, well under the 60 s it would wait on a forgotten timer. */
async function runChild(name: string, applicationName: string): Promise<{ code: number | null; out: string; err: string }> {
  const fixture = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ctx.url, applicationName], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const code = await new Promise<number | null>((resolve) => {
    const killer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve(null)
    }, 45_000)
    child.on('exit', (c) => {
      clearTimeout(killer)
      resolve(c)
    })
  })
  return { code, out, err }
}
