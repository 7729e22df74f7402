/**
 * Every bad input is the client's error (4xx) and changes nothing: NUL characters, ids beyond
 * bigint, values of the wrong JSON type, scores beyond their column, If-Match forms RFC 9110 does
 * not match, a plain GET of the WebSocket route.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startService } from './support.ts'

const service = await startService()
const NUL = 'bad\u0000name'

describe('bad input', () => {
  it('refuses a NUL character in any stored text with 400, and stores nothing', async () => {
    const teacher = await service.login('nul-teacher', ['teachers'])
    const asset = await service.request('POST', '/assets?type=text/plain', { token: teacher.token, raw: Buffer.from('nul test') })
    const cases: [string, string, unknown][] = [
      ['POST', '/projects', { name: NUL }],
      ['POST', '/backpack', { assetId: asset.body.id, label: NUL }],
      ['POST', '/events', { title: NUL, questions: [] }],
      ['POST', '/events', { title: 'ok', questions: [{ id: NUL, answer: 'a', points: 1 }] }],
      ['POST', '/events', { title: 'ok', questions: [{ id: 'q1', answer: NUL, points: 1 }] }],
    ]
    for (const [method, route, body] of cases) {
      const res = await service.request(method, route, { token: teacher.token, body })
      assert.equal(res.status, 400, `${route} ${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`)
    }
    const project = await service.request('POST', '/projects', { token: teacher.token, body: { name: 'fine' } })
    const rename = await service.request('PUT', `/projects/${project.body.id}`, { token: teacher.token, headers: { 'if-match': '"1"' }, body: { name: NUL } })
    assert.equal(rename.status, 400)
    assert.deepEqual(await service.sql(`SELECT 1 FROM projects WHERE name LIKE 'bad%'`), [])
    assert.deepEqual(await service.sql(`SELECT 1 FROM events WHERE title = 'ok'`), [])
    assert.deepEqual(await service.sql(`SELECT 1 FROM backpack_items`), [])
  })

  it('refuses ids beyond what a bigint (or an exact number) holds with 400', async () => {
    const user = await service.login('big-ids')
    for (const assetId of [1e20, 2 ** 53, 2 ** 63, -1, 0, 1.5]) {
      const res = await service.request('POST', '/backpack', { token: user.token, body: `{"assetId": ${String(assetId)}}` })
      assert.equal(res.status, 400, `assetId ${assetId}: ${res.status}`)
    }
    const huge = await service.request('POST', '/backpack', { token: user.token, body: '{"assetId": 100000000000000000000}' })
    assert.equal(huge.status, 400)
    for (const id of ['99999999999999999999', '9223372036854775808', '1e20']) {
      assert.equal((await service.request('GET', `/projects/${id}`, { token: user.token })).status, 400, `project ${id}`)
      assert.equal((await service.request('GET', `/assets/${id}`, { token: user.token })).status, 400, `asset ${id}`)
    }
    const grader = await service.request('POST', '/events/1/scores', { headers: { authorization: service.serviceAuth }, body: { userId: 1e20, points: 1 } })
    assert.equal(grader.status, 400)
  })

  it('does not coerce JSON types: a number for a name, a string for a list or an id are 400', async () => {
    const user = await service.login('typed')
    assert.equal((await service.request('POST', '/auth/login', { body: { username: 123 } })).status, 400)
    assert.equal((await service.request('POST', '/auth/login', { body: { username: 'typed', groups: 'teachers' } })).status, 400)
    assert.equal((await service.request('POST', '/backpack', { token: user.token, body: { assetId: '1' } })).status, 400)
    assert.equal((await service.request('POST', '/projects', { token: user.token, body: { name: 42 } })).status, 400)
    assert.equal((await service.request('POST', '/projects', { token: user.token, body: { name: 'x', files: { path: 'a', content: 'b' } } })).status, 400)
    assert.equal(
      (await service.request('POST', '/events/1/scores', { headers: { authorization: service.serviceAuth }, body: { userId: '1', points: '5' } })).status,
      400,
    )
    assert.deepEqual(
      await service.sql(
        `SELECT g.name FROM groups g WHERE g.name = 'teachers' AND EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.username = 'typed' AND m.group_id = g.id)`,
      ),
      [],
    )
    // Query strings are text by nature: numbers in them still work.
    assert.equal((await service.request('GET', '/projects?limit=2', { token: user.token })).status, 200)
  })

  it('refuses points that would take a score beyond its column with 409, changing nothing', async () => {
    const teacher = await service.login('overflow-teacher', ['teachers'])
    const student = await service.login('overflow-student')
    const event = await service.request('POST', '/events', { token: teacher.token, body: { title: 'overflow', questions: [] } })
    const grade = (points: number) =>
      service.request('POST', `/events/${event.body.id}/scores`, { headers: { authorization: service.serviceAuth }, body: { userId: student.userId, points } })
    await service.sql('INSERT INTO participants (event_id, user_id, score) VALUES ($1, $2, 2147483000)', [event.body.id, student.userId])
    const over = await grade(1_000)
    assert.equal(over.status, 409, JSON.stringify(over.body))
    assert.deepEqual(await service.sql('SELECT score FROM participants WHERE event_id = $1', [event.body.id]), [{ score: 2147483000 }])
    assert.equal((await grade(647)).status, 200, 'up to the limit is fine')
    await service.sql('UPDATE participants SET score = -2147483000 WHERE event_id = $1', [event.body.id])
    assert.equal((await grade(-1_000)).status, 409)
  })

  it('follows RFC 9110 for If-Match: strong tags match, weak ones never do (412), malformed is 400, * means "exists"', async () => {
    const owner = await service.login('etag-owner')
    const created = await service.request('POST', '/projects', { token: owner.token, body: { name: 'v1' } })
    assert.equal(created.headers.get('etag'), '"1"')
    const put = (ifMatch: string, name: string) =>
      service.request('PUT', `/projects/${created.body.id}`, { token: owner.token, headers: { 'if-match': ifMatch }, body: { name } })
    for (const malformed of ['1', '"1', 'W/1', '"1" "2"', ',', 'W/"1",x']) assert.equal((await put(malformed, 'no')).status, 400, `If-Match: ${malformed}`)
    for (const weak of ['W/"1"', '"v1"', 'W/"1", W/"2"']) assert.equal((await put(weak, 'no')).status, 412, `If-Match: ${weak}`)
    const listed = await put('"7", "1"', 'v2')
    assert.equal(listed.status, 200, JSON.stringify(listed.body))
    assert.equal(listed.headers.get('etag'), '"2"')
    const stale = await put('"1"', 'no')
    assert.equal(stale.status, 409)
    assert.equal(stale.body.currentVersion, 2)
    const any = await put('*', 'v3')
    assert.equal(any.status, 200)
    assert.equal(any.body.version, 3)
    assert.deepEqual(await service.sql('SELECT name, version FROM projects WHERE id = $1', [created.body.id]), [{ name: 'v3', version: 3 }])
    assert.equal((await service.request('PUT', '/projects/999999999', { token: owner.token, headers: { 'if-match': '*' }, body: { name: 'x' } })).status, 404)
    const del = await service.request('DELETE', `/projects/${created.body.id}`, { token: owner.token, headers: { 'if-match': 'W/"3"' } })
    assert.equal(del.status, 412)
    assert.equal((await service.request('DELETE', `/projects/${created.body.id}`, { token: owner.token, headers: { 'if-match': '"3"' } })).status, 204)
  })

  it('answers a plain GET of the WebSocket route with 426 in JSON, like every other error', async () => {
    const user = await service.login('plain-getter')
    for (const token of [undefined, user.token]) {
      const res = await fetch(`${service.url}/events/1/live${token ? `?token=${token}` : ''}`)
      assert.equal(res.status, 426)
      assert.match(res.headers.get('content-type') ?? '', /application\/json/)
      const body = (await res.json()) as { error: string }
      assert.equal(body.error, 'UPGRADE_REQUIRED')
    }
  })
})
