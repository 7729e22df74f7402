/**
 * Production sign-in: ID tokens signed by the identity provider (a key pair made here, as the
 * provider would hold it), verified against issuer, audience and keys from a JWKS file or URL.
 * The development login is refused in production, and our own access tokens must name a user
 * that exists. Authentication comes before validation on every route.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose'
import { startService } from './support.ts'

const ISSUER = 'https://id.example.edu/realms/school'
const AUDIENCE = 'classroom'

async function provider(): Promise<{ privateKey: CryptoKey; jwks: { keys: unknown[] }; kid: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const kid = randomUUID()
  return { privateKey, kid, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] } }
}

const idp = await provider()
const impostor = await provider()

/** An ID token as the provider issues it; `change` bends one thing for a test. */
async function idToken(
  claims: JWTPayload,
  change: { key?: CryptoKey; kid?: string; issuer?: string; audience?: string; expires?: string | number } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: change.kid ?? idp.kid })
    .setIssuer(change.issuer ?? ISSUER)
    .setAudience(change.audience ?? AUDIENCE)
    .setSubject(randomUUID())
    .setIssuedAt()
    .setExpirationTime(change.expires ?? '5m')
    .sign(change.key ?? idp.privateKey)
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'classroom-sign-in-'))
after(() => rm(dir, { recursive: true, force: true }))
const jwksFile = path.join(dir, 'jwks.json')
await writeFile(jwksFile, JSON.stringify(idp.jwks))

const production = await startService({
  env: { NODE_ENV: 'production', OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_FILE: jwksFile, OIDC_GROUPS_CLAIM: 'realm_access.roles' },
})

async function exchange(token: string, target = production): Promise<{ status: number; body: any }> {
  return target.request('POST', '/auth/token', { body: { idToken: token } })
}

describe('sign-in', () => {
  it('refuses the development login in production, before reading the body, and creates nobody', async () => {
    const res = await production.request('POST', '/auth/login', { body: { username: 'mallory', groups: ['teachers'] } })
    assert.equal(res.status, 403)
    assert.equal(res.body.error, 'DEVELOPMENT_LOGIN_DISABLED')
    assert.equal((await production.request('POST', '/auth/login', { body: { nonsense: true } })).status, 403)
    assert.deepEqual(await production.sql(`SELECT 1 FROM users WHERE username = 'mallory'`), [])
  })

  it('exchanges a provider-signed ID token for our tokens: user name and groups from its claims (JWKS file)', async () => {
    const res = await exchange(await idToken({ preferred_username: 'ada@school.example', realm_access: { roles: ['teachers', 'math'] } }))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user.username, 'ada@school.example')
    assert.deepEqual(res.body.user.groups, ['math', 'teachers'])
    // The groups count: a teacher creates events.
    const event = await production.request('POST', '/events', { token: res.body.accessToken as string, body: { title: 'Signed in', questions: [] } })
    assert.equal(event.status, 201, JSON.stringify(event.body))
    const rows = await production.sql<{ name: string }>(
      `SELECT g.name FROM memberships m JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id WHERE u.username = 'ada@school.example' ORDER BY g.name`,
    )
    assert.deepEqual(
      rows.map((r) => r.name),
      ['math', 'teachers'],
    )
  })

  it('refuses ID tokens with a wrong key, issuer or audience, expired, unsigned, or without a usable name or groups (401)', async () => {
    const claims = { preferred_username: 'eve', realm_access: { roles: ['teachers'] } }
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
    const payload = Buffer.from(JSON.stringify({ ...claims, iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url')
    const bad = {
      'another key, same kid': await idToken(claims, { key: impostor.privateKey }),
      'another key and kid': await idToken(claims, { key: impostor.privateKey, kid: impostor.kid }),
      'wrong issuer': await idToken(claims, { issuer: 'https://evil.example' }),
      'wrong audience': await idToken(claims, { audience: 'someone-else' }),
      expired: await idToken(claims, { expires: Math.floor(Date.now() / 1000) - 3600 }),
      'alg none': `${header}.${payload}.`,
      'no name claim': await idToken({ realm_access: { roles: [] } }),
      'name not text': await idToken({ preferred_username: 42 }),
      'name with NUL': await idToken({ preferred_username: 'eve\u0000' }),
      'groups not a list': await idToken({ preferred_username: 'eve', realm_access: { roles: 'teachers' } }),
      'not a JWT': 'hello',
    }
    for (const [what, token] of Object.entries(bad)) {
      const res = await exchange(token)
      assert.equal(res.status, 401, `${what}: ${res.status} ${JSON.stringify(res.body)}`)
    }
    assert.deepEqual(await production.sql(`SELECT 1 FROM users WHERE username LIKE 'eve%'`), [])
  })

  it('fetches the keys from a JWKS URL', async () => {
    let fetched = 0
    const keys = http.createServer((_req, res) => {
      fetched++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(idp.jwks))
    })
    await new Promise<void>((resolve) => keys.listen(0, '127.0.0.1', resolve))
    after(() => new Promise<void>((resolve) => keys.close(() => resolve())))
    const address = keys.address() as { port: number }
    const viaUrl = await startService({
      env: {
        NODE_ENV: 'production',
        OIDC_ISSUER: ISSUER,
        OIDC_AUDIENCE: AUDIENCE,
        OIDC_JWKS_URL: `http://127.0.0.1:${address.port}/jwks`,
        OIDC_USERNAME_CLAIM: 'email',
      },
    })
    const res = await exchange(await idToken({ email: 'grace@school.example', groups: ['physics'] }), viaUrl)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user.username, 'grace@school.example')
    assert.deepEqual(res.body.user.groups, ['physics'])
    assert.ok(fetched >= 1)
    assert.equal((await exchange(await idToken({ email: 'x@y' }, { key: impostor.privateKey, kid: impostor.kid }), viaUrl)).status, 401)
  })

  it('accepts our access tokens only when they name an existing user (missing, non-numeric or unknown sub: 401)', async () => {
    const dev = await startService()
    const user = await dev.login('real-user')
    assert.equal((await dev.request('GET', '/projects', { token: user.token })).status, 200)
    const forged = {
      'no sub': dev.app.jwt.sign({ name: 'x' } as never, { expiresIn: 60 }),
      'sub not a number': dev.app.jwt.sign({ sub: 'abc', name: 'x' }, { expiresIn: 60 }),
      'sub beyond bigint': dev.app.jwt.sign({ sub: '99999999999999999999999', name: 'x' }, { expiresIn: 60 }),
      'unknown sub': dev.app.jwt.sign({ sub: '987654321', name: 'x' }, { expiresIn: 60 }),
      'no name': dev.app.jwt.sign({ sub: String(user.userId) } as never, { expiresIn: 60 }),
    }
    for (const [what, token] of Object.entries(forged)) {
      for (const route of ['/projects', '/backpack']) {
        const res = await dev.request('GET', route, { token })
        assert.equal(res.status, 401, `${what} on ${route}: ${res.status} ${JSON.stringify(res.body)}`)
      }
      const post = await dev.request('POST', '/projects', { token, body: { name: 'x' } })
      assert.equal(post.status, 401, `${what} creating a project`)
    }
    assert.deepEqual(await dev.sql(`SELECT 1 FROM projects`), [])
  })

  it('authenticates before validating: an anonymous caller gets 401 whatever it sends, never the schema', async () => {
    const dev = await startService()
    const cases: [string, string, { body?: unknown; raw?: Buffer }][] = [
      ['POST', '/projects', { body: { wrong: 1 } }],
      ['GET', '/projects?limit=zero', {}],
      ['GET', '/projects/not-a-number', {}],
      ['GET', '/backpack?after=-5', {}],
      ['POST', '/backpack', { body: { assetId: 'x' } }],
      ['POST', '/assets?type=../../etc', { raw: Buffer.from('x') }],
      ['GET', '/assets/abc', {}],
      ['POST', '/events', { body: { title: 5 } }],
      ['GET', '/events/abc', {}],
    ]
    for (const [method, route, options] of cases) {
      const res = await dev.request(method, route, options)
      assert.equal(res.status, 401, `${method} ${route}: ${res.status} ${JSON.stringify(res.body)}`)
      assert.doesNotMatch(JSON.stringify(res.body), /must|should|schema/i, 'no schema detail')
    }
  })
})
