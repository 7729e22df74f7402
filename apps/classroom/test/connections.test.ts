/**
 * Connections at the edges: an upload still arriving when the service shuts down is answered 503
 * after the grace period and leaves no temporary file; a body rejected before it was read (413,
 * 401) ends its connection instead of holding it open.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import net from 'node:net'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startService, type Service } from './support.ts'

/** A raw HTTP/1.1 client on its own socket: what was received, and whether the server closed it. */
function rawRequest(target: Service, head: string): { socket: net.Socket; received: () => string; ended: Promise<void> } {
  const { port } = new URL(target.url)
  const socket = net.connect(Number(port), '127.0.0.1')
  let text = ''
  socket.on('data', (d: Buffer) => (text += d.toString()))
  socket.on('error', () => undefined)
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  socket.write(head)
  return { socket, received: () => text, ended }
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3_000; i++) {
    if (await condition()) return
    await sleep(10)
  }
  assert.fail(`timed out waiting for ${what}`)
}

const temporaries = async (target: Service): Promise<string[]> => (await readdir(target.app.context.assetFiles.dir)).filter((f) => f.endsWith('.tmp'))

describe('connections', () => {
  it('shutdown: a slow upload is answered 503 after the grace period, its temporary file removed, and close() completes', async () => {
    const service = await startService({ env: { SHUTDOWN_GRACE_MS: '500' } })
    const user = await service.login('slow-uploader')
    const upload = rawRequest(
      service,
      `POST /assets?type=image/png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}`,
    )
    await until(async () => (await temporaries(service)).length === 1, 'the upload in progress')
    await service.app.close()
    await upload.ended
    assert.match(upload.received(), /^HTTP\/1\.1 503 /)
    assert.match(upload.received(), /SHUTTING_DOWN/)
    assert.deepEqual(await temporaries(service), [])
    assert.deepEqual(await service.sql('SELECT 1 FROM assets'), [])
  })

  it('shutdown: an upload that finishes within the grace period is stored and answered 201', async () => {
    const service = await startService({ env: { SHUTDOWN_GRACE_MS: '30000' } })
    const user = await service.login('quick-uploader')
    const upload = rawRequest(
      service,
      `POST /assets?type=image/png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.token}\r\nContent-Type: application/octet-stream\r\nContent-Length: 2000\r\n\r\n${'b'.repeat(1000)}`,
    )
    await until(async () => (await temporaries(service)).length === 1, 'the upload in progress')
    const closing = service.app.close()
    await sleep(100)
    upload.socket.write('b'.repeat(1000))
    await closing
    await upload.ended
    assert.match(upload.received(), /^HTTP\/1\.1 201 /)
    assert.equal((await service.sql('SELECT 1 FROM assets')).length, 1)
  })

  it('a chunked upload rejected as too large (413) or unauthenticated (401) ends its connection', async () => {
    const service = await startService({ env: { MAX_UPLOAD_BYTES: '1024' } })
    const user = await service.login('big-chunks')
    const chunk = `${(4096).toString(16)}\r\n${'c'.repeat(4096)}\r\n`
    for (const auth of [`Authorization: Bearer ${user.token}\r\n`, '']) {
      const request = rawRequest(
        service,
        `POST /assets?type=image/png HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`,
      )
      await until(() => /\r\n\r\n/.test(request.received()), 'the answer')
      assert.match(request.received(), auth === '' ? /^HTTP\/1\.1 401 / : /^HTTP\/1\.1 413 /)
      assert.match(request.received(), /\r\nconnection: close\r\n/i)
      // The client keeps quiet (more body could follow): the server must end the connection itself.
      await Promise.race([request.ended, sleep(30_000).then(() => assert.fail('the connection was left open after the answer'))])
    }
    assert.deepEqual(await temporaries(service), [])
  })
})
