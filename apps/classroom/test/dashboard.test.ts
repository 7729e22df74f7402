import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { sql } from 'pgsteward'
import { startService } from './support.ts'

const service = await startService({ env: { DB_POOL_MAX: '3' } })

interface Sample {
  connections: { idle: number; used: number; total: number; max: number }
  waiting: number
  holders: { connectionId: number; state: string }[]
}

/** Reads a Server-Sent Events stream until `until` accepts a `sample` event's data, then stops reading. */
async function readSamples(
  url: string,
  headers: Record<string, string>,
  until: (sample: Sample) => boolean,
): Promise<{ status: number; contentType: string | null; sample: Sample }> {
  const controller = new AbortController()
  const res = await fetch(url, { headers, signal: controller.signal })
  assert.equal(res.status, 200, await (res.status === 200 ? Promise.resolve('') : res.text()))
  const reader = res.body?.getReader()
  assert.ok(reader)
  const decoder = new TextDecoder()
  let buffered = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`the stream ended before the expected sample; got: ${buffered}`)
      buffered += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const frame = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        const event = /^event: (.*)$/m.exec(frame)?.[1]
        const data = /^data: (.*)$/m.exec(frame)?.[1]
        if (event !== 'sample' || data === undefined) continue
        const sample = JSON.parse(data) as Sample
        if (until(sample)) return { status: res.status, contentType: res.headers.get('content-type'), sample }
      }
    }
  } finally {
    controller.abort()
  }
}

describe('the live pool dashboard at /dashboard', () => {
  it('is never open: no token or a bad one 401, a student 403, on the page and on its stream', async () => {
    const student = await service.login('dash-student', ['math'])
    for (const route of ['/dashboard', '/dashboard/', '/dashboard/events', '/dashboard/anything']) {
      const anonymous = await service.request('GET', route)
      assert.equal(anonymous.status, 401, `${route}: ${JSON.stringify(anonymous.body)}`)
      assert.equal(anonymous.body.error, 'UNAUTHORIZED')
      assert.doesNotMatch(JSON.stringify(anonymous.body), /<html|event: sample/)
      const forged = await service.request('GET', `${route}?token=not.a.token`)
      assert.equal(forged.status, 401, route)
      const bearer = await service.request('GET', route, { token: student.token })
      assert.equal(bearer.status, 403, `${route}: ${JSON.stringify(bearer.body)}`)
      assert.equal(bearer.body.error, 'FORBIDDEN')
      const query = await service.request('GET', `${route}?token=${student.token}`)
      assert.equal(query.status, 403, route)
    }
    const post = await service.request('POST', '/dashboard', { token: student.token, body: {} })
    assert.equal(post.status, 404, 'only GET is routed')
  })

  it('serves operators and teachers the page, and a stream of the pool that follows its load', async () => {
    const operator = await service.login('dash-operator', ['operators'])
    const teacher = await service.login('dash-teacher', ['teachers'])
    for (const { token } of [operator, teacher]) {
      const page = await service.request('GET', `/dashboard?token=${token}`)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
      assert.match(page.body as string, /<title>[^<]*classroom/)
      assert.match(page.body as string, /EventSource/)
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src/)
      const byHeader = await service.request('GET', '/dashboard', { token })
      assert.equal(byHeader.status, 200)
    }

    // A live update with the pool's numbers.
    const idle = await readSamples(`${service.url}/dashboard/events?token=${operator.token}`, {}, () => true)
    assert.match(idle.contentType ?? '', /^text\/event-stream/)
    assert.equal(idle.sample.connections.max, 3)

    // Hold two connections in transactions: a later sample shows them used, with their holders.
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    let started = 0
    const holders = [0, 1].map(() =>
      service.db.transaction(async (tx) => {
        await tx.query(sql`SELECT 1`)
        started++
        await held
      }),
    )
    try {
      const busy = await readSamples(`${service.url}/dashboard/events`, { authorization: `Bearer ${teacher.token}` }, (s) => s.connections.used >= 2)
      assert.ok(busy.sample.holders.length >= 2, JSON.stringify(busy.sample.holders))
      assert.equal(started, 2)
    } finally {
      release()
      await Promise.all(holders)
    }
    const after = await readSamples(`${service.url}/dashboard/events?token=${operator.token}`, {}, (s) => s.connections.used === 0)
    assert.equal(after.sample.waiting, 0)
  })

  it('stays reachable for a watcher while the pool is saturated', async () => {
    const operator = await service.login('dash-saturated', ['operators'])
    assert.equal((await service.request('GET', `/dashboard?token=${operator.token}`)).status, 200)
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const holders = [0, 1, 2].map(() =>
      service.db.transaction(async (tx) => {
        await tx.query(sql`SELECT 1`)
        await held
      }),
    )
    try {
      const full = await readSamples(`${service.url}/dashboard/events?token=${operator.token}`, {}, (s) => s.connections.used === 3)
      assert.equal(full.sample.connections.idle, 0)
    } finally {
      release()
      await Promise.all(holders)
    }
  })
})
