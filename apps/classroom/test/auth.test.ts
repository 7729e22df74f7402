import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startService } from './support.ts'

const service = await startService()

describe('auth', () => {
  it('50 simultaneous first logins of one user create one user, its groups and no duplicate memberships', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => service.request('POST', '/auth/login', { body: { username: 'newcomer', groups: ['math', 'art'] } })),
    )
    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200])
    const ids = new Set(responses.map((r) => r.body.user.id as number))
    assert.equal(ids.size, 1)
    assert.equal((await service.sql(`SELECT 1 FROM users WHERE username = 'newcomer'`)).length, 1)
    assert.equal((await service.sql(`SELECT 1 FROM groups WHERE name IN ('math', 'art')`)).length, 2)
    const memberships = await service.sql<{ name: string }>(
      `SELECT g.name FROM memberships m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id WHERE u.username = 'newcomer' ORDER BY g.name`,
    )
    assert.deepEqual(
      memberships.map((m) => m.name),
      ['art', 'math'],
    )
  })

  it('a later login makes memberships exactly the groups given', async () => {
    await service.login('mover', ['a', 'b'])
    await service.login('mover', ['b', 'c'])
    const names = await service.sql<{ name: string }>(
      `SELECT g.name FROM memberships m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id WHERE u.username = 'mover' ORDER BY g.name`,
    )
    assert.deepEqual(
      names.map((n) => n.name),
      ['b', 'c'],
    )
  })

  it('of 50 concurrent refreshes of one token exactly one wins; the rest get 401', async () => {
    const { refreshToken } = await service.login('refresher')
    const responses = await Promise.all(Array.from({ length: 50 }, () => service.request('POST', '/auth/refresh', { body: { refreshToken } })))
    const ok = responses.filter((r) => r.status === 200)
    assert.equal(ok.length, 1)
    assert.equal(responses.filter((r) => r.status === 401).length, 49)
    const rows = await service.sql<{ revoked: boolean }>(
      `SELECT t.revoked_at IS NOT NULL AS revoked FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'refresher' ORDER BY t.id`,
    )
    assert.deepEqual(
      rows.map((r) => r.revoked),
      [true, false],
      'the old token revoked, exactly one new one',
    )
    const me = await service.request('GET', '/projects', { token: ok[0]?.body.accessToken as string })
    assert.equal(me.status, 200, 'the new access token works')
    const again = await service.request('POST', '/auth/refresh', { body: { refreshToken } })
    assert.equal(again.status, 401)
  })

  it('rejects bad input with 400 naming the field, and missing or bad tokens with 401', async () => {
    const missing = await service.request('POST', '/auth/login', { body: { groups: [] } })
    assert.equal(missing.status, 400)
    assert.match(missing.body.message, /username/)
    const badName = await service.request('POST', '/auth/login', { body: { username: '../etc' } })
    assert.equal(badName.status, 400)
    const malformed = await service.request('POST', '/auth/login', { body: '{"username": ' })
    assert.equal(malformed.status, 400)
    assert.equal((await service.sql(`SELECT 1 FROM users WHERE username = '../etc'`)).length, 0)
    assert.equal((await service.request('GET', '/projects')).status, 401)
    assert.equal((await service.request('GET', '/projects', { token: 'not.a.jwt' })).status, 401)
    assert.equal((await service.request('GET', '/no/such/route')).status, 404)
  })
})
