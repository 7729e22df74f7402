/**
 * The service as a process: a `kill -9` leaves nothing that blocks the next start; start-up failures are one line each.
 */
import assert from 'node:assert/strict'
import { appendFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { describe, it } from 'node:test'
import { createTestDatabase } from '@pgsteward/testkit'
import { alive, assertGracefulStop, login, ownLines, postmasterPid, scratch, startMain } from './process-support.ts'

describe('the service as a process', () => {
  it('after kill -9 of the service, the next start stops the PostgreSQL left behind and starts on the same data', async () => {
    const dataDir = path.join(scratch, 'killed')
    const first = startMain({ DATA_DIR: dataDir })
    const url = await first.url
    await login(url, 'survivor')
    const leftover = await postmasterPid(dataDir)
    first.child.kill('SIGKILL')
    await first.exited
    assert.equal(alive(leftover), true, 'PostgreSQL outlived the killed service')

    const second = startMain({ DATA_DIR: dataDir })
    const url2 = await second.url
    assert.match(second.output(), new RegExp(`stopping the PostgreSQL server \\(pid ${leftover}\\) left running`))
    assert.equal(alive(leftover), false)
    const users = await fetch(`${url2}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'survivor' }),
    })
    assert.equal(users.status, 200)
    await assertGracefulStop(second, dataDir, 'SIGTERM')
  })

  it('says in one line why the embedded PostgreSQL cannot start, quoting its log', async () => {
    const dataDir = path.join(scratch, 'broken')
    const first = startMain({ DATA_DIR: dataDir })
    await first.url
    first.child.kill('SIGTERM')
    assert.equal((await first.exited).code, 0)
    const config = path.join(dataDir, 'postgres', 'postgresql.auto.conf')
    await appendFile(config, "\nshared_buffers = 'lots'\n")
    const broken = startMain({ DATA_DIR: dataDir })
    assert.equal((await broken.exited).code, 1)
    const lines = ownLines(broken.output())
    assert.equal(lines.length, 1, broken.output())
    assert.match(lines[0] ?? '', /PostgreSQL could not start .*invalid value for parameter "shared_buffers": "lots".*FATAL: /)
  })

  it('start-up failures are one line each: port in use, database unreachable', async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as net.AddressInfo).port
    const busy = startMain({ DATA_DIR: path.join(scratch, 'busy'), PORT: String(port), DATABASE_URL: await createTestDatabase('port') })
    assert.equal((await busy.exited).code, 1)
    assert.deepEqual(ownLines(busy.output()), [`Port ${port} on 127.0.0.1 is in use: stop what listens there, or set PORT to another port.`])

    // Now nothing listens on that port: connections are refused.
    await new Promise<void>((resolve) => blocker.close(() => resolve()))
    const unreachable = startMain({ DATA_DIR: path.join(scratch, 'unreachable'), DATABASE_URL: `postgres://nobody:secret@127.0.0.1:${port}/nothing` })
    const result = await unreachable.exited
    assert.equal(result.code, 1)
    const lines = ownLines(unreachable.output())
    assert.equal(lines.length, 1, unreachable.output())
    assert.match(lines[0] ?? '', /^Cannot reach the database at 127\.0\.0\.1:\d+\/nothing: .*Check DATABASE_URL\.$/)
    assert.doesNotMatch(unreachable.output(), /secret/)
  })
})
