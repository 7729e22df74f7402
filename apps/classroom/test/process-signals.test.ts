/**
 * The service as a process: SIGTERM stops it gracefully with DATABASE_URL too, and a `kill -9`
 * of npm start stops the service and its embedded PostgreSQL (it notices its parent is gone).
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { describe, it } from 'node:test'
import { createTestDatabase } from '@pgsteward/testkit'
import { accepts, alive, assertGracefulStop, launch, npmProject, postmasterPid, scratch, startMain, until } from './process-support.ts'

describe('the service as a process', () => {
  it('SIGTERM with DATABASE_URL: in-flight requests finish, exit 0 (the embedded server package is never loaded)', async () => {
    const dataDir = path.join(scratch, 'external')
    const run = startMain({ DATA_DIR: dataDir, DATABASE_URL: await createTestDatabase('process') })
    await assertGracefulStop(run, dataDir, 'SIGTERM')
    assert.match(run.output(), /\(DATABASE_URL\)/)
    assert.doesNotMatch(run.output(), /postgres:[^*@/]+@/, 'no password printed')
  })

  it('npm start killed with SIGKILL: the service notices npm is gone and stops with its embedded PostgreSQL', async () => {
    const project = await npmProject()
    const dataDir = path.join(scratch, 'npm-killed-data')
    const run = launch('npm', ['start'], { env: { DATA_DIR: dataDir }, cwd: project })
    const url = await run.url
    const postgres = await postmasterPid(dataDir)
    run.child.kill('SIGKILL')
    await until(async () => !alive(postgres) && !(await accepts(url)), 'the orphaned service and its database to stop')
  })
})
