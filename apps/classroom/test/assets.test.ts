import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { startService } from './support.ts'

const service = await startService({ env: { MAX_UPLOAD_BYTES: String(64 * 1024) } })
const assetDir = service.app.context.assetFiles.dir
let failCommits = false
const faulty = await startService({
  faults: {
    beforeCommit: () => {
      if (failCommits) throw new Error('injected: the transaction fails after the file was put in place')
    },
  },
})

describe('assets and backpack', () => {
  it('50 concurrent identical uploads by 5 users: one file, one row and id per uploader, 201 once for each', async () => {
    const users = await Promise.all(Array.from({ length: 5 }, (_, i) => service.login(`uploader-${i}`)))
    const bytes = randomBytes(20_000)
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => service.request('POST', '/assets?type=image/png', { token: users[i % 5]?.token, raw: bytes })),
    )
    assert.equal(responses.filter((r) => r.status === 201).length, 5)
    assert.equal(responses.filter((r) => r.status === 200).length, 45)
    for (let u = 0; u < 5; u++) {
      const mine = responses.filter((_, i) => i % 5 === u)
      assert.equal(new Set(mine.map((r) => r.body.id as number)).size, 1, 'one id per uploader')
    }
    assert.equal(new Set(responses.map((r) => r.body.id as number)).size, 5)
    const md5 = createHash('md5').update(bytes).digest('hex')
    assert.equal(responses[0]?.body.md5, md5, 'md5 computed by the server')
    assert.equal((await service.sql('SELECT 1 FROM assets WHERE md5 = $1', [md5])).length, 5)
    const files = (await readdir(assetDir)).filter((f) => f.startsWith(md5))
    assert.equal(files.length, 1)
    assert.equal((await readdir(assetDir)).filter((f) => f.endsWith('.tmp')).length, 0, 'no temporary files left')
    const download = await fetch(`${service.url}/assets/${responses[0]?.body.id}`, { headers: { authorization: `Bearer ${users[0]?.token}` } })
    assert.equal(download.headers.get('content-type'), 'image/png')
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), bytes)
    // Same bytes, another type: a different asset.
    const other = await service.request('POST', '/assets?type=application/octet-stream', { token: users[0]?.token, raw: bytes })
    assert.equal(other.status, 201)
    assert.notEqual(other.body.id, responses[0]?.body.id)
  })

  it('an upload whose transaction fails leaves neither row nor file, and the same bytes upload fine afterwards', async () => {
    const user = await faulty.login('unlucky-uploader')
    const dir = faulty.app.context.assetFiles.dir
    const bytes = randomBytes(5_000)
    const md5 = createHash('md5').update(bytes).digest('hex')
    failCommits = true
    try {
      const failed = await faulty.request('POST', '/assets?type=image/png', { token: user.token, raw: bytes })
      assert.equal(failed.status, 500)
    } finally {
      failCommits = false
    }
    assert.equal((await faulty.sql('SELECT 1 FROM assets WHERE md5 = $1', [md5])).length, 0)
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith(md5)),
      [],
      'no file without its row',
    )
    assert.equal((await readdir(dir)).filter((f) => f.endsWith('.tmp')).length, 0)

    const retried = await faulty.request('POST', '/assets?type=image/png', { token: user.token, raw: bytes })
    assert.equal(retried.status, 201)
    assert.equal((await readdir(dir)).filter((f) => f.startsWith(md5)).length, 1)
  })

  it('rejects oversize (413), empty, badly typed and wrongly encoded uploads, leaving nothing behind', async () => {
    const user = await service.login('careless')
    const before = await service.sql('SELECT 1 FROM assets')
    const big = await service.request('POST', '/assets?type=image/png', { token: user.token, raw: randomBytes(64 * 1024 + 1) })
    assert.equal(big.status, 413)
    assert.equal((await service.request('POST', '/assets?type=image/png', { token: user.token, raw: Buffer.alloc(0) })).status, 400)
    assert.equal((await service.request('POST', '/assets?type=../../etc', { token: user.token, raw: Buffer.from('x') })).status, 400)
    assert.equal((await service.request('POST', '/assets', { token: user.token, raw: Buffer.from('x') })).status, 400)
    assert.equal((await service.request('POST', '/assets?type=text/plain', { token: user.token, body: { not: 'bytes' } })).status, 415)
    assert.equal((await service.request('POST', '/assets?type=image/png', { raw: Buffer.from('x') })).status, 401)
    assert.equal((await service.sql('SELECT 1 FROM assets')).length, before.length)
    assert.equal((await readdir(assetDir)).filter((f) => f.endsWith('.tmp')).length, 0)
  })

  it('backpack: add (idempotent under 50 concurrent adds), list, remove; others cannot remove', async () => {
    const owner = await service.login('packer')
    const other = await service.login('snooper')
    const asset = await service.request('POST', '/assets?type=text/plain', { token: owner.token, raw: Buffer.from('hello backpack') })
    const adds = await Promise.all(
      Array.from({ length: 50 }, () => service.request('POST', '/backpack', { token: owner.token, body: { assetId: asset.body.id, label: 'greeting' } })),
    )
    assert.equal(adds.filter((r) => r.status === 201).length, 1)
    assert.equal(adds.filter((r) => r.status === 200).length, 49)
    assert.equal(new Set(adds.map((r) => r.body.id as number)).size, 1)
    const list = await service.request('GET', '/backpack', { token: owner.token })
    assert.equal(list.body.items.length, 1)
    assert.equal((await service.request('POST', '/backpack', { token: owner.token, body: { assetId: 987654 } })).status, 404)
    assert.equal((await service.request('POST', '/backpack', { token: owner.token, body: { assetId: 'one' } })).status, 400)
    const itemId = list.body.items[0].id as number
    assert.equal((await service.request('DELETE', `/backpack/${itemId}`, { token: other.token })).status, 404)
    assert.equal((await service.request('DELETE', `/backpack/${itemId}`, { token: owner.token })).status, 204)
    assert.equal((await service.sql('SELECT 1 FROM backpack_items WHERE id = $1', [itemId])).length, 0)
    assert.equal((await service.request('DELETE', `/backpack/${itemId}`, { token: owner.token })).status, 404)
  })

  it('backpack and project lists come in pages by id: limit, after, next; bad page parameters are 400', async () => {
    const user = await service.login('collector')
    const assets = await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        service.request('POST', '/assets?type=text/plain', { token: user.token, raw: Buffer.from(`item ${i} ${randomBytes(8).toString('hex')}`) }),
      ),
    )
    for (const a of assets) assert.equal((await service.request('POST', '/backpack', { token: user.token, body: { assetId: a.body.id } })).status, 201)
    const seen: number[] = []
    const pageSizes: number[] = []
    let after: number | null | undefined
    do {
      const res = await service.request('GET', `/backpack?limit=3${after ? `&after=${after}` : ''}`, { token: user.token })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      pageSizes.push(res.body.items.length as number)
      seen.push(...(res.body.items as { id: number }[]).map((item) => item.id))
      after = res.body.next as number | null
    } while (after !== null && pageSizes.length < 10)
    assert.deepEqual(pageSizes, [3, 3, 1])
    const stored = await service.sql<{ id: string }>('SELECT id FROM backpack_items WHERE user_id = $1 ORDER BY id', [user.userId])
    assert.deepEqual(
      seen,
      stored.map((r) => Number(r.id)),
      'every item once, in id order',
    )
    const all = await service.request('GET', '/backpack', { token: user.token })
    assert.equal(all.body.items.length, 7, 'the default page holds them all')
    assert.equal(all.body.next, null)

    for (const bad of ['limit=0', 'limit=101', 'limit=two', 'after=-1', 'after=abc', 'page=2']) {
      const res = await service.request('GET', `/backpack?${bad}`, { token: user.token })
      assert.equal(res.status, 400, `${bad}: ${JSON.stringify(res.body)}`)
      assert.equal((await service.request('GET', `/projects?${bad}`, { token: user.token })).status, 400, `/projects?${bad}`)
    }

    for (const name of ['first', 'second', 'third'])
      assert.equal((await service.request('POST', '/projects', { token: user.token, body: { name } })).status, 201)
    const firstPage = await service.request('GET', '/projects?limit=2', { token: user.token })
    assert.deepEqual(
      (firstPage.body.projects as { name: string }[]).map((p) => p.name),
      ['first', 'second'],
    )
    const lastPage = await service.request('GET', `/projects?limit=2&after=${firstPage.body.next}`, { token: user.token })
    assert.deepEqual(
      (lastPage.body.projects as { name: string }[]).map((p) => p.name),
      ['third'],
    )
    assert.equal(lastPage.body.next, null)
  })

  it('ops: /health touches the database, /metrics exports the pool and HTTP metrics, oversize JSON is 413', async () => {
    const health = await service.request('GET', '/health')
    assert.equal(health.status, 200)
    assert.equal(health.body.status, 'ok')
    assert.ok(health.body.server.version)
    const metrics = await fetch(`${service.url}/metrics`)
    const text = await metrics.text()
    assert.match(text, /pgsteward_pool_acquisitions_total\{pool="classroom"\} \d+/)
    assert.match(text, /http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} 1/)
    const user = await service.login('verbose')
    const huge = await service.request('POST', '/projects', { token: user.token, body: { name: 'x', files: [{ path: 'a', content: 'x'.repeat(70 * 1024) }] } })
    assert.equal(huge.status, 413)
  })
})
