/** Every example in the README runs to completion against this run's server. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, findPgBouncer, PGBOUNCER_MISSING, startReplicatedPair } from '@pgsteward/testkit'

function run(example: string, url: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const file = fileURLToPath(new URL(`../${example}`, import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, DATABASE_URL: url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    }),
  )
}

describe('examples', () => {
  const expectations: [string, RegExp][] = [
    ['kysely.ts', /person \{ id: 2, name: 'Grace' \}[\s\S]*people after the outer rollback: 2/],
    ['drizzle.ts', /hello, drizzle/],
    ['legacy-pg.ts', /visits 1 health ok/],
    ['metrics.ts', /pgsteward_pool_acquisitions_total\{pool="main"\} 20/],
    ['listen-notify.ts', /received 3 messages: hello \| world \| sent while the listener was away/],
  ]
  for (const [example, expected] of expectations) {
    it(`${example} runs and prints what it should`, async () => {
      const { code, output } = await run(example, await createTestDatabase(example.replace('.ts', '')))
      assert.equal(code, 0, output)
      assert.match(output, expected)
    })
  }

  it('read-replicas.ts and several-servers.ts run on a primary and a streaming standby and print what they should', async () => {
    const pair = await startReplicatedPair()
    const { code, output } = await run('read-replicas.ts', pair.primary.url, { REPLICA_URL: pair.standby.url })
    assert.equal(code, 0, output)
    assert.match(
      output,
      /read your write: hello, replica\nafter the token: 1 note\(s\)\nreads on the standby: \d+, on the primary while the standby caught up: \d+/,
    )
    const servers = await run('several-servers.ts', pair.primary.url, { REPLICA_URL: pair.standby.url })
    assert.equal(servers.code, 0, servers.output)
    assert.match(
      servers.output,
      /target_session_attrs=read-write: primary\ntarget_session_attrs=standby: standby\ntarget_session_attrs=prefer-standby: standby\ntarget_session_attrs=any: standby/,
    )
  })

  it('pgbouncer.ts runs behind a real PgBouncer in transaction mode and prints what it should', async (t) => {
    if (findPgBouncer() === undefined) return t.skip(PGBOUNCER_MISSING)
    const { code, output } = await run('pgbouncer.ts', await createTestDatabase('pgbouncer_example'))
    assert.equal(code, 0, output)
    assert.match(output, /counter after 50 transactions: 50\npg_sleep\(30\) with timeoutMs 500: ScopeTimeoutError/)
  })
})
