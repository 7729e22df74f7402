import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { startService } from './support.ts'

let failWrites = false
let failCommits = false
const service = await startService({
  faults: {
    files: {
      beforeWrite: () => {
        if (failWrites) throw new Error('injected: disk full')
      },
    },
    beforeCommit: () => {
      if (failCommits) throw new Error('injected: database failed before commit')
    },
  },
})
const filesDir = service.app.context.projectFiles.dir

/**
 * Every blob on disk is referenced by a row or released by a write (kept for readers until the
 * sweep), and every referenced blob is on disk.
 */
async function assertFilesMatchRows(): Promise<void> {
  const onDisk = new Set((await readdir(filesDir)).filter((f) => !f.endsWith('.tmp')))
  const referenced = new Set((await service.sql<{ sha256: string }>('SELECT DISTINCT sha256 FROM project_files')).map((r) => r.sha256))
  const released = new Set((await service.sql<{ sha256: string }>('SELECT sha256 FROM blob_releases')).map((r) => r.sha256))
  assert.deepEqual(
    [...onDisk].filter((f) => !referenced.has(f) && !released.has(f)),
    [],
    'no orphan files',
  )
  assert.deepEqual(
    [...referenced].filter((f) => !onDisk.has(f)),
    [],
    'no missing files',
  )
}

describe('projects', () => {
  it('creates files and row as one unit, reads them back, and hides them from others (404)', async () => {
    const owner = await service.login('owner1', ['class-a'])
    const stranger = await service.login('stranger1')
    const name = "'; drop table users; --"
    const created = await service.request('POST', '/projects', { token: owner.token, body: { name, files: [{ path: 'src/main.py', content: 'print(1)' }] } })
    assert.equal(created.status, 201)
    assert.equal(created.body.version, 1)
    const read = await service.request('GET', `/projects/${created.body.id}`, { token: owner.token })
    assert.equal(read.status, 200)
    assert.equal(read.body.name, name, 'stored and read back verbatim')
    assert.equal(read.body.files[0].content, 'print(1)')
    assert.equal((await service.request('GET', `/projects/${created.body.id}`, { token: stranger.token })).status, 404)
    assert.equal((await service.request('GET', '/projects/999999', { token: owner.token })).status, 404)
    assert.equal((await service.sql('SELECT 1 FROM users')).length >= 2, true, 'users table intact')
    await assertFilesMatchRows()
  })

  it('rejects path traversal and bad input without writing anything', async () => {
    const user = await service.login('traveller')
    const before = (await readdir(filesDir)).length
    for (const path of ['../etc/passwd', '/abs', 'a/../../b', 'a//b', '.hidden/..']) {
      const res = await service.request('POST', '/projects', { token: user.token, body: { name: 'x', files: [{ path, content: 'x' }] } })
      assert.equal(res.status, 400, path)
      assert.match(res.body.message, /files\.path/)
    }
    assert.equal((await service.request('POST', '/projects', { token: user.token, body: { name: '' } })).status, 400)
    assert.equal((await service.request('POST', '/projects', { token: user.token, body: { name: 'x', extra: 1 } })).status, 400)
    assert.equal((await service.sql(`SELECT 1 FROM projects p JOIN users u ON u.id = p.owner_id WHERE u.username = 'traveller'`)).length, 0)
    assert.equal((await readdir(filesDir)).length, before)
  })

  it('50 concurrent updates with the same version: one wins, 49 get 409 with the current version, none is lost', async () => {
    const owner = await service.login('editor')
    const { body: project } = await service.request('POST', '/projects', { token: owner.token, body: { name: 'v1', files: [] } })
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        service.request('PUT', `/projects/${project.id}`, {
          token: owner.token,
          headers: { 'if-match': '"1"' },
          body: { name: `edit-${i}`, files: [{ path: 'f.txt', content: `edit-${i}` }] },
        }),
      ),
    )
    const won = responses.filter((r) => r.status === 200)
    const stale = responses.filter((r) => r.status === 409)
    assert.equal(won.length, 1)
    assert.equal(stale.length, 49)
    for (const s of stale) assert.equal(s.body.currentVersion, 2)
    const [row] = await service.sql<{ name: string; version: number }>('SELECT name, version FROM projects WHERE id = $1', [project.id])
    assert.deepEqual(row, { name: won[0]?.body.name, version: 2 })
    const files = await service.sql<{ path: string }>('SELECT path FROM project_files WHERE project_id = $1', [project.id])
    assert.equal(files.length, 1)
    assert.equal((await service.request('PUT', `/projects/${project.id}`, { token: owner.token, body: { name: 'no version' } })).status, 428)
    await assertFilesMatchRows()
  })

  it('sharing is idempotent under 50 concurrent requests and grants read access to members', async () => {
    const owner = await service.login('sharer')
    const member = await service.login('member1', ['physics'])
    const { body: project } = await service.request('POST', '/projects', { token: owner.token, body: { name: 'shared', files: [] } })
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        service.request('POST', `/projects/${project.id}/share`, { token: owner.token, body: { groups: ['physics', 'chemistry'] } }),
      ),
    )
    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200])
    assert.equal((await service.sql('SELECT 1 FROM project_shares WHERE project_id = $1', [project.id])).length, 2)
    assert.equal((await service.request('GET', `/projects/${project.id}`, { token: member.token })).status, 200)
    assert.equal((await service.request('POST', `/projects/${project.id}/share`, { token: member.token, body: { groups: ['x'] } })).status, 403)
  })

  it('copies a consistent snapshot of row and files while writers run', async () => {
    const owner = await service.login('copier')
    const { body: project } = await service.request('POST', '/projects', {
      token: owner.token,
      body: {
        name: 'gen-0',
        files: [
          { path: 'a.txt', content: 'gen-0' },
          { path: 'b.txt', content: 'gen-0' },
        ],
      },
    })
    let writing = true
    const writer = (async () => {
      let version = 1
      for (let gen = 1; writing && gen < 200; gen++) {
        const res = await service.request('PUT', `/projects/${project.id}`, {
          token: owner.token,
          headers: { 'if-match': `"${version}"` },
          body: {
            name: `gen-${gen}`,
            files: [
              { path: 'a.txt', content: `gen-${gen}` },
              { path: 'b.txt', content: `gen-${gen}` },
            ],
          },
        })
        if (res.status === 200) version = res.body.version as number
      }
    })()
    const copies = await Promise.all(Array.from({ length: 50 }, () => service.request('POST', `/projects/${project.id}/copy`, { token: owner.token })))
    writing = false
    await writer
    for (const copy of copies) {
      assert.equal(copy.status, 201)
      const read = await service.request('GET', `/projects/${copy.body.id}`, { token: owner.token })
      const [a, b] = read.body.files as { path: string; content: string }[]
      assert.equal(a?.content, b?.content, 'both files from one generation')
      assert.equal(read.body.name, a?.content, 'row and files from one snapshot')
    }
    await assertFilesMatchRows()
  })

  it('a delete racing 50 updates leaves no row and no orphan file; the racers get 200, 404 or 409', async () => {
    const owner = await service.login('deleter')
    const { body: project } = await service.request('POST', '/projects', {
      token: owner.token,
      body: { name: 'doomed', files: [{ path: 'x.txt', content: 'doomed-unique-content' }] },
    })
    const racers = Array.from({ length: 50 }, (_, i) =>
      service.request('PUT', `/projects/${project.id}`, {
        token: owner.token,
        headers: { 'if-match': '"1"' },
        body: { files: [{ path: 'x.txt', content: `racer-${i}-unique` }] },
      }),
    )
    const deletion = service.request('DELETE', `/projects/${project.id}`, { token: owner.token })
    const results = await Promise.all([...racers, deletion])
    for (const r of results.slice(0, 50)) assert.ok([200, 404, 409].includes(r.status), `racer got ${r.status}`)
    assert.equal(results[50]?.status, 204)
    assert.equal((await service.sql('SELECT 1 FROM projects WHERE id = $1', [project.id])).length, 0)
    await assertFilesMatchRows()
  })

  it('a failed file write leaves no row; a failed commit leaves no file', async () => {
    const user = await service.login('unlucky')
    const count = async (): Promise<number> =>
      (await service.sql(`SELECT 1 FROM projects p JOIN users u ON u.id = p.owner_id WHERE u.username = 'unlucky'`)).length
    failWrites = true
    const writeFailed = await service.request('POST', '/projects', {
      token: user.token,
      body: { name: 'w', files: [{ path: 'a.txt', content: 'never-written' }] },
    })
    failWrites = false
    assert.equal(writeFailed.status, 500)
    assert.equal(await count(), 0)
    failCommits = true
    const commitFailed = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        service.request('POST', '/projects', { token: user.token, body: { name: 'c', files: [{ path: 'a.txt', content: `lost-${i}` }] } }),
      ),
    )
    failCommits = false
    assert.deepEqual([...new Set(commitFailed.map((r) => r.status))], [500])
    assert.equal(await count(), 0)
    await assertFilesMatchRows()
  })
})
