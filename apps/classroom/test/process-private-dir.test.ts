/**
 * The service as a process: a data directory the `postgres` user cannot enter (under a mode-700 directory) works.
 */
import assert from 'node:assert/strict'
import { chmod, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { describe, it } from 'node:test'
import { assertGracefulStop, login, scratch, startMain } from './process-support.ts'

describe('the service as a process', () => {
  it(
    'runs with DATA_DIR inside a mode-700 directory the postgres user cannot enter',
    { skip: process.getuid?.() === 0 ? false : 'only root runs PostgreSQL as another user' },
    async () => {
      const privateDir = path.join(scratch, 'private')
      await mkdir(privateDir, { mode: 0o700 })
      await chmod(privateDir, 0o700)
      const dataDir = path.join(privateDir, 'data')
      const run = startMain({ DATA_DIR: dataDir })
      const url = await run.url
      await login(url, 'private-user')
      const linked = run.output()
      assert.match(linked, new RegExp(`data in ${dataDir}/postgres -> `))
      await assertGracefulStop(run, dataDir, 'SIGTERM')
      // The next start finds its data through the link; removing DATA_DIR removes the cluster.
      const again = startMain({ DATA_DIR: dataDir })
      const url2 = await again.url
      const res = await fetch(`${url2}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'private-user' }),
      })
      assert.equal(res.status, 200)
      again.child.kill('SIGTERM')
      assert.equal((await again.exited).code, 0)
      const cluster = /data in \S+ -> (\S+);/.exec(linked)?.[1]
      assert.ok(cluster)
      await rm(cluster, { recursive: true, force: true })
    },
  )
})
