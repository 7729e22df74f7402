/**
 * What a crash leaves on disk (a file put in place whose transaction never committed, a write
 * never finished) is removed when the service starts; files that rows name are kept.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdir, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, it } from 'node:test'
import { buildApp } from '../src/app.ts'
import { removeCrashLeftovers } from '../src/files/crash-leftovers.ts'
import { startService } from './support.ts'

const service = await startService()
const { projectFiles, assetFiles } = service.app.context

describe('files left by a crash', () => {
  it('are removed at start-up: orphan blobs and stale temporary files go, named files and fresh writes stay', async () => {
    const user = await service.login('survivor')
    const project = await service.request('POST', '/projects', {
      token: user.token,
      body: { name: 'kept', files: [{ path: 'a.txt', content: 'kept content' }] },
    })
    assert.equal(project.status, 201)
    const keptBlob = createHash('sha256').update('kept content').digest('hex')
    const png = randomBytes(300)
    const asset = await service.request('POST', '/assets?type=image/png', { token: user.token, raw: png })
    assert.equal(asset.status, 201)
    const md5 = createHash('md5').update(png).digest('hex')
    const keptAsset = `${md5}.image_png`

    // What a process killed between putting files in place and COMMIT leaves behind.
    const orphanBlob = createHash('sha256').update('never committed').digest('hex')
    await writeFile(path.join(projectFiles.dir, orphanBlob), 'never committed')
    const orphanAsset = `${createHash('md5').update('lost upload').digest('hex')}.image_png`
    await writeFile(path.join(assetFiles.dir, orphanAsset), 'lost upload')
    const sameBytesOtherType = `${md5}.text_plain` // the row is for image/png only
    await writeFile(path.join(assetFiles.dir, sameBytesOtherType), png)
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000)
    const staleTemporaries = [path.join(projectFiles.dir, `${orphanBlob}.abc123.tmp`), path.join(assetFiles.dir, 'upload-0011223344556677.tmp')]
    for (const file of staleTemporaries) {
      await writeFile(file, 'half written')
      await utimes(file, twoHoursAgo, twoHoursAgo)
    }
    // Not named as an asset file: not ours to judge, so it stays.
    const foreign = 'notes-from-an-operator.txt'
    await writeFile(path.join(assetFiles.dir, foreign), 'keep me')
    await writeFile(path.join(projectFiles.dir, foreign), 'keep me too')
    const freshTemporary = path.join(assetFiles.dir, 'upload-8899aabbccddeeff.tmp')
    await writeFile(freshTemporary, 'an upload still running')

    // Starting the service again over the same database and directory sweeps them.
    const restarted = await buildApp({ config: service.config, db: service.db })
    await restarted.close()
    assert.deepEqual((await readdir(projectFiles.dir)).sort(), [keptBlob, foreign].sort())
    assert.deepEqual((await readdir(assetFiles.dir)).sort(), [keptAsset, foreign, path.basename(freshTemporary)].sort())

    // Nothing left to do: a second sweep removes nothing, and what rows name still reads back.
    assert.deepEqual(await removeCrashLeftovers(service.app.context), { temporaryFiles: 0, orphanFiles: 0 })
    const download = await fetch(`${service.url}/assets/${asset.body.id}`, { headers: { authorization: `Bearer ${user.token}` } })
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), png)
    const read = await service.request('GET', `/projects/${project.body.id}`, { token: user.token })
    assert.equal(read.status, 200)
    assert.deepEqual(
      (read.body.files as { path: string }[]).map((f) => f.path),
      ['a.txt'],
    )
  })
})
