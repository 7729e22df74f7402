/**
 * The quick race lab, as part of `npm test`: every scenario small, against this run's server.
 * The lab exits non-zero if any pgsteward variant violated its invariant; this test fails then.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { adminUrl } from '@pgsteward/testkit'

const runner = fileURLToPath(new URL('../src/run.ts', import.meta.url))
const out = await mkdtemp(path.join(os.tmpdir(), 'quick-lab-'))
after(() => rm(out, { recursive: true, force: true }))

describe('race lab (quick)', () => {
  it('every pgsteward variant holds its invariant, and the naive ones show the incidents', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', runner, '--quick', '--out', out], {
      env: { ...process.env, DATABASE_URL: adminUrl() },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    assert.equal(code, 0, output.slice(-4_000))
    const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as { reports: { id: number; variant: string; violations: string[] }[] }
    const steward = report.reports.filter((r) => r.variant === 'pgsteward')
    assert.ok(steward.length >= 11, 'every scenario ran')
    assert.deepEqual(steward.filter((r) => r.violations.length > 0), [])
    // The lab must be able to show the failure, or it proves nothing: most naive variants do.
    const naiveFailures = report.reports.filter((r) => r.variant === 'naive' && r.violations.length > 0).length
    assert.ok(naiveFailures >= 6, `only ${naiveFailures} naive variants showed their incident`)
    assert.match(await readFile(path.join(out, 'report.html'), 'utf8'), /<svg/)
  })

  it('refuses --only with a number that names no scenario, instead of running nothing', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', runner, '--only', '3,99', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    assert.notEqual(code, 0)
    assert.match(output, /--only takes scenario numbers separated by commas, from: 1, 2, 3/)
  })
})
