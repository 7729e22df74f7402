/**
 * Live sockets against abuse: a flood is refused beyond the per-socket rate limit (token bucket)
 * and the socket closed if it persists; one bad chat message fails alone, never the messages of
 * others written in the same batch.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WebSocket } from 'ws'
import { ChatRelay } from '../src/events/chat.ts'
import { Hub, DEFAULT_HUB_OPTIONS } from '../src/events/hub.ts'
import { InflightWork } from '../src/events/inflight.ts'
import { LeaderboardPublisher } from '../src/events/leaderboard.ts'
import { LiveFeed } from '../src/events/live-feed.ts'
import { startService, type Service } from './support.ts'

const PER_SECOND = 10
const BURST = 20
const limited = await startService({ env: { LIVE_MESSAGES_PER_SECOND: String(PER_SECOND), LIVE_MESSAGE_BURST: String(BURST) } })
const open = await startService({ env: { LIVE_MESSAGES_PER_SECOND: '1000000', LIVE_MESSAGE_BURST: '1000000' } })

interface Client {
  ws: WebSocket
  received: { type: string; code?: string; message?: unknown }[]
  closed: Promise<{ code: number; reason: string }>
  joined: Promise<void>
}

async function join(target: Service, eventId: number, token: string): Promise<Client> {
  const ws = new WebSocket(`${target.wsUrl}/events/${eventId}/live?token=${token}`)
  const received: Client['received'] = []
  let markJoined: () => void = () => undefined
  const joined = new Promise<void>((resolve) => (markJoined = resolve))
  ws.on('message', (data) => {
    const message = JSON.parse((data as Buffer).toString('utf8')) as Client['received'][number]
    received.push(message)
    if (message.type === 'joined') markJoined()
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  await joined
  return { ws, received, closed, joined }
}

async function eventOn(target: Service, title: string): Promise<number> {
  const teacher = await target.login(`teacher-${title}`, ['teachers'])
  const res = await target.request('POST', '/events', { token: teacher.token, body: { title, questions: [{ id: 'q1', answer: 'a', points: 1 }] } })
  assert.equal(res.status, 201)
  return res.body.id as number
}

describe('live limits', () => {
  it('a socket flooding 2,000 messages has at most its rate stored, is told RATE_LIMITED, then closed with 1008', async () => {
    const eventId = await eventOn(limited, 'flood')
    const flooder = await limited.login('flooder')
    const client = await join(limited, eventId, flooder.token)
    const started = performance.now()
    for (let i = 0; i < 2_000; i++) client.ws.send(JSON.stringify({ type: 'chat', body: `flood ${i}` }))
    const { code, reason } = await client.closed
    const seconds = (performance.now() - started) / 1000
    assert.equal(code, 1008)
    assert.equal(reason, 'rate limit exceeded')
    const errors = client.received.filter((m) => m.type === 'error')
    assert.equal(errors.filter((e) => e.code === 'RATE_LIMITED').length, 1, 'told once, not once per message')
    // Accepted messages are written in batches after they were accepted, so the last ones may still
    // be on their way when the socket closes: wait (bounded) for the burst to be there.
    const countStored = async (): Promise<number> =>
      (await limited.sql<{ n: number }>('SELECT count(*)::int AS n FROM chat_messages WHERE event_id = $1', [eventId]))[0]?.n ?? 0
    let stored = await countStored()
    for (let waited = 0; stored < BURST && waited < 30_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      stored = await countStored()
    }
    // Whatever the machine's speed: the burst, plus the refill over the time it took.
    assert.ok(stored <= BURST + Math.ceil(seconds * PER_SECOND) + 1, `${stored} stored in ${seconds.toFixed(2)} s`)
    assert.ok(stored >= BURST, `the burst itself is stored (${stored})`)
    // A polite client in the same room is unaffected.
    const polite = await limited.login('polite')
    const other = await join(limited, eventId, polite.token)
    other.ws.send(JSON.stringify({ type: 'chat', body: 'hello' }))
    await new Promise<void>((resolve) => {
      const check = (): void => (other.received.some((m) => m.type === 'chat') ? resolve() : void setTimeout(check, 10))
      check()
    })
    other.ws.close()
    await other.closed
  })

  it('one chat message with a NUL fails alone: 200 concurrent messages of another user are all stored', async () => {
    const eventId = await eventOn(open, 'nul-chat')
    const talker = await open.login('talker-200')
    const troll = await open.login('troll')
    const good = await join(open, eventId, talker.token)
    const bad = await join(open, eventId, troll.token)
    for (let i = 0; i < 200; i++) {
      good.ws.send(JSON.stringify({ type: 'chat', body: `message ${i}` }))
      if (i === 100) bad.ws.send(JSON.stringify({ type: 'chat', body: 'evil\u0000' }))
    }
    await new Promise<void>((resolve) => {
      const check = (): void => (good.received.filter((m) => m.type === 'chat').length >= 200 ? resolve() : void setTimeout(check, 10))
      check()
    })
    assert.equal(good.received.filter((m) => m.type === 'error').length, 0)
    const stored = await open.sql<{ n: number }>('SELECT count(*)::int AS n FROM chat_messages WHERE event_id = $1', [eventId])
    assert.equal(stored[0]?.n, 200)
    assert.ok(
      bad.received.some((m) => m.type === 'error' && m.code === 'INVALID_MESSAGE'),
      JSON.stringify(bad.received),
    )
    good.ws.close()
    bad.ws.close()
    await Promise.all([good.closed, bad.closed])
  })

  it('the chat writer stores a batch message by message when one of them is refused by the database', async () => {
    const eventId = await eventOn(open, 'batch')
    const users = await Promise.all([open.login('batch-a'), open.login('batch-b')])
    const hub = new Hub({ ...DEFAULT_HUB_OPTIONS, log: open.app.log })
    const inflight = new InflightWork()
    const leaderboard = new LeaderboardPublisher({ db: open.db, hub, inflight, log: open.app.log, intervalMs: 50 })
    const relay = new ChatRelay({ db: open.db, feed: new LiveFeed({ db: open.db, hub, leaderboard, inflight, log: open.app.log }), inflight })
    try {
      // Posted in one turn: they share a batch. The NUL reaches the database (no validation here).
      const posts = Array.from({ length: 50 }, (_, i) =>
        relay.post(eventId, { userId: users[i % 2]?.userId ?? 0, username: 'x', body: i === 25 ? 'nul\u0000' : `batched ${i}` }).then(
          () => 'stored',
          () => 'failed',
        ),
      )
      const outcomes = await Promise.all(posts)
      assert.equal(outcomes.filter((o) => o === 'failed').length, 1)
      assert.equal(outcomes[25], 'failed')
      const rows = await open.sql<{ body: string }>('SELECT body FROM chat_messages WHERE event_id = $1 ORDER BY id', [eventId])
      assert.deepEqual(
        rows.map((r) => r.body),
        Array.from({ length: 50 }, (_, i) => `batched ${i}`).filter((_, i) => i !== 25),
        'the others, in the order they were posted',
      )
    } finally {
      hub.shutdown()
    }
  })
})
