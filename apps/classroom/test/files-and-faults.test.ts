/**
 * Files against readers and faults: a reader never finds a row whose file is gone while writers
 * replace it; files a write released go in the background once no reader can need them, and so do
 * files whose clean-up failed; work after a commit never turns the committed write into an error;
 * database faults are 503 with Retry-After, and a creating POST repeated with its Idempotency-Key
 * creates once.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { sql } from 'pgsteward'
import { adminUrl, withClient } from '@pgsteward/testkit'
import { startService } from './support.ts'

let failRemovals = false
let killConnectionBeforeCommit = false
const service = await startService({
  // No grace: released files may go at the next sweep, which the tests run by hand.
  env: { REPLACED_FILES_GRACE_SECONDS: '0' },
  faults: {
    files: {
      beforeRemove: () => {
        if (failRemovals) throw new Error('injected: the file system refuses the removal')
      },
    },
  },
})
const readers = await startService({
  faults: {
    beforeCommit: async () => {
      // The transaction's own connection dies under it, as when a backend is terminated.
      if (killConnectionBeforeCommit) await readers.db.query(sql`SELECT pg_terminate_backend(pg_backend_pid())`)
    },
  },
})

const blobsOn = async (target: typeof service): Promise<Set<string>> =>
  new Set((await readdir(target.app.context.projectFiles.dir)).filter((f) => !f.endsWith('.tmp')))

describe('files and faults', () => {
  it('readers racing writers always get the whole project: never a missing file (no 500)', async () => {
    const owner = await readers.login('raced-owner')
    const created = await readers.request('POST', '/projects', {
      token: owner.token,
      body: {
        name: 'gen-0',
        files: [
          { path: 'a.txt', content: 'gen-0 a' },
          { path: 'b.txt', content: 'gen-0 b' },
        ],
      },
    })
    let version = 1
    let writing = true
    const writer = (async () => {
      for (let gen = 1; writing && gen < 400; gen++) {
        const res = await readers.request('PUT', `/projects/${created.body.id}`, {
          token: owner.token,
          headers: { 'if-match': `"${version}"` },
          body: {
            name: `gen-${gen}`,
            files: [
              { path: 'a.txt', content: `gen-${gen} a` },
              { path: 'b.txt', content: `gen-${gen} b` },
            ],
          },
        })
        assert.equal(res.status, 200, JSON.stringify(res.body))
        version = res.body.version as number
      }
    })()
    const statuses = new Map<number, number>()
    const reader = async (): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        const res = await readers.request('GET', `/projects/${created.body.id}`, { token: owner.token })
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (res.status !== 200) continue
        const [a, b] = res.body.files as { content: string }[]
        assert.equal(a?.content, `${res.body.name} a`, 'file a of the version read')
        assert.equal(b?.content, `${res.body.name} b`, 'file b of the version read')
      }
    }
    await Promise.all(Array.from({ length: 8 }, reader))
    writing = false
    await writer
    assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`)
    assert.ok(version > 2, 'the writer really wrote meanwhile')
  })

  it('a committed PUT or DELETE whose file clean-up fails is still a success; the sweep removes the files later', async () => {
    const owner = await service.login('sweep-owner')
    const created = await service.request('POST', '/projects', {
      token: owner.token,
      body: { name: 'p', files: [{ path: 'f.txt', content: `old ${randomUUID()}` }] },
    })
    const oldBlob = created.body.files[0].sha256 as string
    failRemovals = true
    try {
      const put = await service.request('PUT', `/projects/${created.body.id}`, {
        token: owner.token,
        headers: { 'if-match': '"1"' },
        body: { files: [{ path: 'f.txt', content: `new ${randomUUID()}` }] },
      })
      assert.equal(put.status, 200, JSON.stringify(put.body))
      assert.equal(put.body.version, 2)
      // The next edit with the version the client got works: the commit was reported as such.
      const next = await service.request('PUT', `/projects/${created.body.id}`, {
        token: owner.token,
        headers: { 'if-match': '"2"' },
        body: { name: 'renamed' },
      })
      assert.equal(next.status, 200)
      assert.equal((await service.app.context.sweeper.sweep().catch(() => undefined))?.releasedFilesRemoved ?? 0, 0)
      assert.ok((await blobsOn(service)).has(oldBlob), 'the removal failed, the file is still there')
    } finally {
      failRemovals = false
    }
    const swept = await service.app.context.sweeper.sweep()
    assert.ok(swept.releasedFilesRemoved >= 1)
    assert.ok(!(await blobsOn(service)).has(oldBlob), 'collected in the background, no restart needed')
    assert.deepEqual(await service.sql('SELECT 1 FROM blob_releases WHERE sha256 = $1', [oldBlob]), [])

    const current = (await service.sql<{ sha256: string }>('SELECT sha256 FROM project_files WHERE project_id = $1', [created.body.id]))[0]?.sha256 as string
    failRemovals = true
    try {
      assert.equal((await service.request('DELETE', `/projects/${created.body.id}`, { token: owner.token })).status, 204)
    } finally {
      failRemovals = false
    }
    assert.ok((await blobsOn(service)).has(current))
    await service.app.context.sweeper.sweep()
    assert.ok(!(await blobsOn(service)).has(current))
  })

  it('keeps replaced files through the grace period: a reader paused after reading the rows still reads them', async () => {
    const owner = await readers.login('grace-owner')
    const created = await readers.request('POST', '/projects', {
      token: owner.token,
      body: { name: 'p', files: [{ path: 'f.txt', content: `graced ${randomUUID()}` }] },
    })
    const oldBlob = created.body.files[0].sha256 as string
    await readers.request('PUT', `/projects/${created.body.id}`, {
      token: owner.token,
      headers: { 'if-match': '"1"' },
      body: { files: [{ path: 'f.txt', content: 'replacement' }] },
    })
    await readers.app.context.sweeper.sweep()
    assert.ok((await blobsOn(readers)).has(oldBlob), 'released, within the grace period, kept')
    assert.equal((await readers.sql('SELECT 1 FROM blob_releases WHERE sha256 = $1', [oldBlob])).length, 1, 'and due for the sweep later')
  })

  it('answers database faults with 503 and Retry-After, and nothing is committed', async () => {
    const owner = await readers.login('fault-owner')
    killConnectionBeforeCommit = true
    let res
    try {
      res = await readers.request('POST', '/projects', { token: owner.token, body: { name: 'lost-connection', files: [{ path: 'a', content: 'x' }] } })
    } finally {
      killConnectionBeforeCommit = false
    }
    assert.equal(res.status, 503, JSON.stringify(res.body))
    assert.equal(res.headers.get('retry-after'), '1')
    assert.deepEqual(await readers.sql(`SELECT 1 FROM projects WHERE name = 'lost-connection'`), [])
    // The pool replaced the connection: the retry works.
    assert.equal((await readers.request('POST', '/projects', { token: owner.token, body: { name: 'retried' } })).status, 201)
  })

  it('Idempotency-Key: a repeated or concurrent creating POST creates once and gets the same answer; another body with the key is 422', async () => {
    const owner = await service.login('idempotent-owner')
    const key = randomUUID()
    const post = () =>
      service.request('POST', '/projects', {
        token: owner.token,
        headers: { 'idempotency-key': key },
        body: { name: 'once', files: [{ path: 'a', content: 'b' }] },
      })
    const answers = await Promise.all(Array.from({ length: 20 }, post))
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [201])
    assert.equal(new Set(answers.map((a) => a.body.id as number)).size, 1)
    assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 19)
    assert.equal((await service.sql(`SELECT 1 FROM projects WHERE name = 'once'`)).length, 1)
    const later = await post()
    assert.equal(later.status, 201)
    assert.equal(later.body.id, answers[0]?.body.id)
    assert.equal(later.headers.get('etag'), '"1"')
    const other = await service.request('POST', '/projects', { token: owner.token, headers: { 'idempotency-key': key }, body: { name: 'different' } })
    assert.equal(other.status, 422)
    // Keys are per user: another user's same key is a new request.
    const someone = await service.login('idempotent-other')
    assert.equal(
      (await service.request('POST', '/projects', { token: someone.token, headers: { 'idempotency-key': key }, body: { name: 'once' } })).status,
      201,
    )
    assert.equal(
      (await service.request('POST', '/projects', { token: owner.token, headers: { 'idempotency-key': 'bad key with spaces' }, body: { name: 'x' } })).status,
      400,
    )

    // A grader's points, repeated with the same key, count once.
    const teacher = await service.login('idempotent-teacher', ['teachers'])
    const event = await service.request('POST', '/events', {
      token: teacher.token,
      headers: { 'idempotency-key': key },
      body: { title: 'graded', questions: [] },
    })
    assert.equal(event.status, 201)
    const grade = () =>
      service.request('POST', `/events/${event.body.id}/scores`, {
        headers: { authorization: service.serviceAuth, 'idempotency-key': key },
        body: { userId: owner.userId, points: 5 },
      })
    const grades = await Promise.all([grade(), grade(), grade()])
    assert.deepEqual(
      grades.map((g) => g.body.participant.score as number),
      [5, 5, 5],
    )
    assert.deepEqual(await service.sql('SELECT score FROM participants WHERE event_id = $1', [event.body.id]), [{ score: 5 }])
  })

  it('/health is 200 (degraded) while busy and the database answers, 503 only when it does not', async () => {
    const busy = await startService({ env: { DB_POOL_MAX: '2' } })
    assert.equal((await busy.request('GET', '/health')).status, 200)
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const holders = [0, 1].map(() =>
      busy.db.transaction(async (tx) => {
        await tx.query(sql`SELECT 1`)
        await held
      }),
    )
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      const health = await busy.request('GET', '/health')
      assert.equal(health.status, 200, JSON.stringify(health.body))
      assert.equal(health.body.status, 'degraded')
    } finally {
      release()
      await Promise.all(holders)
    }
    // The database stops answering: no connection can be made, and none is in the pool.
    const database = new URL(busy.databaseUrl).pathname.slice(1)
    const admin = async (text: string, values?: unknown[]): Promise<void> => {
      await withClient(adminUrl(), (c) => c.query(text, values))
    }
    await admin(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`)
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [database])
    try {
      const down = await busy.request('GET', '/health')
      assert.equal(down.status, 503, JSON.stringify(down.body))
      assert.equal(down.body.status, 'down')
    } finally {
      await admin(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`)
    }
    assert.equal((await busy.request('GET', '/health')).status, 200, 'back once it answers again')
  })
})
