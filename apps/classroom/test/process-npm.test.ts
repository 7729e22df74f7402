/**
 * The service as a process: SIGTERM and SIGINT to the process `npm start` starts reach the
 * service, which stops gracefully, in-flight requests first, its embedded PostgreSQL last.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, it } from 'node:test'
import { alive, assertGracefulStop, launch, npmProject, postmasterPid, scratch } from './process-support.ts'

describe('the service as a process', () => {
  it('npm start: SIGTERM and SIGINT to npm reach the service, which stops gracefully with its embedded PostgreSQL', async () => {
    const project = await npmProject()
    const dataDir = path.join(scratch, 'npm-data')
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const run = launch('npm', ['start'], { env: { DATA_DIR: dataDir }, cwd: project })
      await run.url
      const postgres = await postmasterPid(dataDir)
      await assertGracefulStop(run, dataDir, signal)
      assert.equal(alive(postgres), false, `the embedded PostgreSQL stopped too\n${run.output()}`)
      await assert.rejects(readFile(path.join(dataDir, 'postgres', 'postmaster.pid')), /ENOENT/)
    }
  })
})
