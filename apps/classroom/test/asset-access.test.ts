/**
 * Who reads an asset: its uploader, whoever saved it, whoever can read a project using it. Ids
 * cannot be counted through, uploads do not reveal what others uploaded, and what is served is
 * never run by a browser as a page.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { startService } from './support.ts'

const service = await startService()

async function upload(token: string, bytes: Buffer, type = 'image/png'): Promise<{ status: number; body: any; headers: Headers }> {
  return service.request('POST', `/assets?type=${encodeURIComponent(type)}`, { token, raw: bytes })
}

describe('asset access', () => {
  it('others cannot read an asset by its id (404), nor learn from an upload that the same bytes exist', async () => {
    const alice = await service.login('alice-assets')
    const bob = await service.login('bob-assets')
    const secret = randomBytes(2_000)
    const mine = await upload(alice.token, secret)
    assert.equal(mine.status, 201)
    assert.equal((await service.request('GET', `/assets/${mine.body.id}`, { token: alice.token })).status, 200)
    // Counting ids: every id up to alice's is not found for bob.
    for (let id = 1; id <= (mine.body.id as number); id++) {
      assert.equal((await service.request('GET', `/assets/${id}`, { token: bob.token })).status, 404, `asset ${id}`)
    }
    // Bob uploading the same bytes is answered as if nobody had: 201, an id of his own.
    const his = await upload(bob.token, secret)
    assert.equal(his.status, 201)
    assert.notEqual(his.body.id, mine.body.id)
    assert.equal((await upload(bob.token, secret)).status, 200, 'his own repeat is a 200 with his id')
    assert.equal((await service.request('GET', `/assets/${mine.body.id}`, { token: bob.token })).status, 404, 'still not his to read')
    assert.equal((await readdir(service.app.context.assetFiles.dir)).filter((f) => f.startsWith(mine.body.md5 as string)).length, 1, 'one file')
    // Nor can he save it to read it later.
    assert.equal((await service.request('POST', '/backpack', { token: bob.token, body: { assetId: mine.body.id } })).status, 404)
  })

  it('readers of a project read the assets it uses; saving keeps them readable; strangers still get 404', async () => {
    const owner = await service.login('project-owner-assets')
    const classmate = await service.login('classmate-assets', ['class-7b'])
    const stranger = await service.login('stranger-assets')
    const picture = await upload(owner.token, randomBytes(500))
    const project = await service.request('POST', '/projects', { token: owner.token, body: { name: 'with picture', assets: [picture.body.id] } })
    assert.equal(project.status, 201, JSON.stringify(project.body))
    assert.deepEqual(
      (project.body.assets as { id: number }[]).map((a) => a.id),
      [picture.body.id],
    )
    assert.equal((await service.request('GET', `/assets/${picture.body.id}`, { token: classmate.token })).status, 404, 'not shared yet')
    assert.equal((await service.request('POST', `/projects/${project.body.id}/share`, { token: owner.token, body: { groups: ['class-7b'] } })).status, 200)
    assert.equal((await service.request('GET', `/assets/${picture.body.id}`, { token: classmate.token })).status, 200)
    assert.equal((await service.request('POST', '/backpack', { token: classmate.token, body: { assetId: picture.body.id } })).status, 201)
    assert.equal((await service.request('GET', `/assets/${picture.body.id}`, { token: stranger.token })).status, 404)
    // A project may only use assets its writer can read.
    const theft = await service.request('POST', '/projects', { token: stranger.token, body: { name: 'theft', assets: [picture.body.id] } })
    assert.equal(theft.status, 400)
    assert.equal(theft.body.field, 'assets.0')
  })

  it('serves stored content with nosniff and a sandbox; HTML and SVG as attachments; accepts image/svg+xml however the + is sent', async () => {
    const user = await service.login('svg-uploader')
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    const encoded = await upload(user.token, svg, 'image/svg+xml')
    assert.equal(encoded.status, 201, JSON.stringify(encoded.body))
    assert.equal(encoded.body.type, 'image/svg+xml')
    // Unencoded, the query string's + reads as a space: it is still the same type.
    const raw = await service.request('POST', '/assets?type=image/svg+xml', { token: user.token, raw: svg })
    assert.equal(raw.status, 200, JSON.stringify(raw.body))
    assert.equal(raw.body.id, encoded.body.id)
    for (const [bytes, type] of [
      [svg, 'image/svg+xml'],
      [Buffer.from('<html><script>alert(1)</script></html>'), 'text/html'],
    ] as const) {
      const stored = await upload(user.token, bytes, type)
      const res = await fetch(`${service.url}/assets/${stored.body.id}`, { headers: { authorization: `Bearer ${user.token}` } })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment/)
      assert.match(res.headers.get('content-security-policy') ?? '', /sandbox/)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes)
    }
    const png = await upload(user.token, randomBytes(100))
    const res = await fetch(`${service.url}/assets/${png.body.id}`, { headers: { authorization: `Bearer ${user.token}` } })
    assert.match(res.headers.get('content-disposition') ?? '', /^inline/)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
  })

  it('refuses a malformed or overlong type with 400, writing nothing', async () => {
    const user = await service.login('type-tester')
    const before = (await service.sql('SELECT 1 FROM assets')).length
    for (const type of [`image/${'x'.repeat(200)}`, `${'a'.repeat(70)}/${'b'.repeat(40)}`, 'image', 'image/', '/png', 'image/png;x=1', 'image/png/x']) {
      const res = await upload(user.token, Buffer.from('x'), type)
      assert.equal(res.status, 400, `${type}: ${res.status} ${JSON.stringify(res.body)}`)
    }
    assert.equal((await service.sql('SELECT 1 FROM assets')).length, before)
    assert.deepEqual(
      (await readdir(service.app.context.assetFiles.dir)).filter((f) => f.endsWith('.tmp')),
      [],
    )
  })
})
