/**
 * The live WebSocket of events, with real `ws` clients on loopback against a real database:
 * joining, answering, chat history stitched to live messages, slow clients, shutdown, and no
 * database session left behind.
 */
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { describe, it } from 'node:test'
import { WebSocket } from 'ws'
import { eventHub } from '../src/events/routes.ts'
import type { LeaderboardEntry, ServerMessage } from '../src/events/messages.ts'
import type { Hub } from '../src/events/hub.ts'
import { startService, type Service } from './support.ts'

// The flood tests measure the hub, not the rate limit (tested on its own): limits out of the way.
const service = await startService({ env: { LIVE_MESSAGES_PER_SECOND: '1000000', LIVE_MESSAGE_BURST: '1000000' } })

type Joined = Extract<ServerMessage, { type: 'joined' }>
type MessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
const randomInt = (max: number): number => Math.floor(Math.random() * max)

/** Poll until `condition` holds; fail with `what` after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await sleep(everyMs)
  }
}

/** A student's WebSocket, recording everything the server sends. */
class LiveClient {
  readonly ws: WebSocket
  readonly received: ServerMessage[] = []
  /** Resolves on open; rejects with the HTTP status when the upgrade is refused. */
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>
  isClosed = false

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false)
      // The server sends one text frame per message, so `data` is a single Buffer.
      this.received.push(JSON.parse((data as Buffer).toString('utf8')) as ServerMessage)
    })
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.isClosed = true
        resolve({ code, reason: reason.toString() })
      })
    })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.on('error', (err) => reject(err))
    })
    // The rejection is observed by whoever awaits `opened`; never an unhandled one.
    this.opened.catch(() => undefined)
  }

  of<T extends ServerMessage['type']>(type: T): MessageOf<T>[] {
    return this.received.filter((m): m is MessageOf<T> => m.type === type)
  }

  async joined(timeoutMs = 15_000): Promise<Joined> {
    await until(() => this.of('joined').length > 0 || this.isClosed, 'joined', timeoutMs)
    const joined = this.of('joined')[0]
    assert.ok(joined, `no joined message before close: ${JSON.stringify(this.received)}`)
    return joined
  }

  /** Chat ids in the order they arrived: the history in `joined`, then live messages. */
  chatIds(): number[] {
    const ids: number[] = []
    for (const m of this.received) {
      if (m.type === 'joined') ids.push(...m.history.map((h) => h.id))
      else if (m.type === 'chat') ids.push(m.message.id)
    }
    return ids
  }

  lastLeaderboard(): LeaderboardEntry[] | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const m = this.received[i]
      if (m?.type === 'leaderboard' || m?.type === 'joined') return m.leaderboard
    }
    return undefined
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** The underlying TCP socket, to stop reading from it like a stalled browser tab. */
  get tcp(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket
  }
}

function connect(eventId: number, token: string | undefined, since?: number, target: Service = service): LiveClient {
  const query = new URLSearchParams()
  if (token !== undefined) query.set('token', token)
  if (since !== undefined) query.set('since', String(since))
  return new LiveClient(`${target.wsUrl}/events/${eventId}/live?${query.toString()}`)
}

async function connectJoined(eventId: number, token: string, since?: number): Promise<LiveClient> {
  const client = connect(eventId, token, since)
  await client.joined()
  return client
}

function hubOf(target: Service = service): Hub {
  const hub = eventHub(target.app.context)
  assert.ok(hub, 'the events module registered its hub')
  return hub
}

const QUESTIONS = [
  { id: 'q1', answer: 'a1', points: 1 },
  { id: 'q2', answer: 'a2', points: 2 },
  { id: 'q3', answer: 'a3', points: 4 },
  { id: 'q4', answer: 'a4', points: 8 },
  { id: 'q5', answer: 'a5', points: 16 },
]

async function createEvent(title: string, target: Service = service): Promise<{ id: number; teacherToken: string; teacherId: number }> {
  const teacher = await target.login(`teacher-${title}`, ['teachers'])
  const res = await target.request('POST', '/events', { token: teacher.token, body: { title, questions: QUESTIONS } })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return { id: (res.body as { id: number }).id, teacherToken: teacher.token, teacherId: teacher.userId }
}

async function loginMany(prefix: string, n: number): Promise<{ token: string; userId: number; username: string }[]> {
  return Promise.all(range(n).map(async (i) => ({ ...(await service.login(`${prefix}-${i}`)), username: `${prefix}-${i}` })))
}

async function closeAll(clients: LiveClient[]): Promise<void> {
  for (const c of clients) c.ws.close()
  await Promise.all(clients.map((c) => c.closed))
}

async function dbLeaderboard(eventId: number): Promise<LeaderboardEntry[]> {
  const rows = await service.sql<{ id: string; user_id: string; username: string; score: number }>(
    `SELECT p.id, p.user_id, u.username, p.score FROM participants p JOIN users u ON u.id = p.user_id
     WHERE p.event_id = $1 ORDER BY p.score DESC, p.id ASC LIMIT 20`,
    [eventId],
  )
  return rows.map((r) => ({ participantId: Number(r.id), userId: Number(r.user_id), username: r.username, score: r.score }))
}

/** After the sockets closed: no session of the service is busy or in a transaction, none is lent. */
async function assertNoSessionHeld(target: Service = service): Promise<void> {
  let last = ''
  await until(
    async () => {
      const rows = await target.sql<{ state: string }>(
        `SELECT state FROM pg_stat_activity
         WHERE application_name = 'classroom-test' AND datname = current_database()
           AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')`,
      )
      const inUse = target.db.stats().inUse
      last = `${JSON.stringify(rows)}, inUse ${inUse}`
      return rows.length === 0 && inUse === 0
    },
    'no session held',
    5_000,
    50,
  ).catch((err: unknown) => assert.fail(`${String(err)}: ${last}`))
}

describe('live events', () => {
  it('refuses a missing or bad token (401) and an unknown event (404) before the upgrade', async () => {
    const event = await createEvent('refusals')
    const student = await service.login('refused-student')
    for (const [client, status] of [
      [connect(event.id, undefined), 401],
      [connect(event.id, 'not-a-token'), 401],
      [connect(999_999, student.token), 404],
    ] as const) {
      await assert.rejects(client.opened, new RegExp(`Unexpected server response: ${status}`))
    }
    assert.equal((await service.sql('SELECT 1 FROM participants WHERE event_id = $1', [event.id])).length, 0)
  })

  it('closes a socket with 1008 when the access token it was opened with expires, and refuses a token without expiry', async () => {
    const event = await createEvent('token-expiry')
    const student = await service.login('expiring-student')
    // A token like the login's, but valid for three seconds: room to join on a loaded machine
    // (JWT expiry has one-second resolution, so it may end up to a second earlier).
    const shortLived = service.app.jwt.sign({ sub: String(student.userId), name: 'expiring-student' }, { expiresIn: 3 })
    const expiresAt = (service.app.jwt.decode<{ exp: number }>(shortLived)?.exp ?? 0) * 1000
    const expiring = await connectJoined(event.id, shortLived)
    const lasting = await connectJoined(event.id, student.token)
    assert.equal(expiring.isClosed, false, 'open while the token is valid')
    const { code, reason } = await Promise.race([expiring.closed, sleep(8_000).then(() => assert.fail('still open 5 s after its token expired'))])
    const closedAt = Date.now()
    assert.equal(code, 1008)
    assert.equal(reason, 'access token expired')
    assert.ok(closedAt >= expiresAt - 50, `closed ${expiresAt - closedAt} ms before the token expired`)
    assert.ok(closedAt < expiresAt + 2_000, `closed ${closedAt - expiresAt} ms after the token expired`)
    // Only the expired socket went: the other one still gets answers.
    lasting.send({ type: 'answer', questionId: 'q1', answer: 'a1' })
    await until(() => lasting.of('answered').length === 1, 'the lasting socket still served')
    assert.equal(lasting.isClosed, false)

    const forever = service.app.jwt.sign({ sub: String(student.userId), name: 'expiring-student' })
    await assert.rejects(connect(event.id, forever).opened, /Unexpected server response: 401/)
    await closeAll([lasting])
    await assertNoSessionHeld()
  })

  it('joins, answers once per question, validates messages and keeps the socket open', async () => {
    const event = await createEvent('basics')
    const student = await service.login('basic-student')
    const client = await connectJoined(event.id, student.token)
    const joined = await client.joined()
    assert.equal(joined.participant.userId, student.userId)
    assert.equal(joined.participant.score, 0)
    assert.deepEqual(joined.history, [])
    assert.deepEqual(joined.answered, [])
    assert.deepEqual(
      joined.event.questions,
      QUESTIONS.map(({ id, points }) => ({ id, points })),
    )
    assert.doesNotMatch(JSON.stringify(joined), /"a1"|answer"/, 'answers never reach clients')
    const rows = await service.sql<{ id: string }>('SELECT id FROM participants WHERE event_id = $1 AND user_id = $2', [event.id, student.userId])
    assert.equal(Number(rows[0]?.id), joined.participant.id)

    // Invalid input: an error each, and the socket stays usable.
    client.send('not json')
    client.send({ type: 'chat', body: '' })
    client.send({ type: 'chat', body: 'x'.repeat(501) })
    client.send({ type: 'shout', body: 'hi' })
    client.send({ type: 'answer', questionId: 'q1' })
    client.send({ type: 'answer', questionId: 'nope', answer: 'a1' })
    client.ws.send(Buffer.from([1, 2, 3]), { binary: true })
    await until(() => client.of('error').length === 7, '7 errors')
    // Answers are judged in their own queue, so the unknown question's error may come last.
    const errors = client.of('error').map((e) => e.message)
    for (const expected of [/JSON/, /^chat\.body: .*1/, /^chat\.body: .*500/, /`type`/, /^answer\.answer: /, /no question "nope"/, /Binary/]) {
      assert.ok(
        errors.some((e) => expected.test(e)),
        `an error matching ${String(expected)} in ${JSON.stringify(errors)}`,
      )
    }

    client.send({ type: 'answer', questionId: 'q2', answer: 'a2' })
    client.send({ type: 'answer', questionId: 'q2', answer: 'a2' })
    client.send({ type: 'answer', questionId: 'q3', answer: 'wrong' })
    client.send({ type: 'chat', body: 'still here' })
    await until(() => client.of('answered').length === 3 && client.of('chat').length === 1, 'answers and chat')
    assert.deepEqual(
      client.of('answered').map(({ questionId, accepted, points, score }) => ({ questionId, accepted, points, score })),
      [
        { questionId: 'q2', accepted: true, points: 2, score: 2 },
        { questionId: 'q2', accepted: false, points: 0, score: 2 },
        { questionId: 'q3', accepted: true, points: 0, score: 2 },
      ],
    )
    const chat = client.of('chat')[0]?.message
    assert.equal(chat?.body, 'still here')
    assert.equal(chat?.username, 'basic-student')
    assert.equal(chat?.userId, student.userId)
    const stored = await service.sql<{ id: string; body: string }>('SELECT id, body FROM chat_messages WHERE event_id = $1', [event.id])
    assert.deepEqual(
      stored.map((r) => ({ id: Number(r.id), body: r.body })),
      [{ id: chat?.id, body: 'still here' }],
    )
    const answers = await service.sql<{ question_id: string; points: number }>(
      'SELECT question_id, points FROM answers WHERE participant_id = $1 ORDER BY question_id',
      [joined.participant.id],
    )
    assert.deepEqual(
      answers.map((a) => [a.question_id, a.points]),
      [
        ['q2', 2],
        ['q3', 0],
      ],
    )
    await until(() => client.lastLeaderboard()?.[0]?.score === 2, 'leaderboard after the answer')

    // A grader's points reach the room too.
    const graded = await service.request('POST', `/events/${event.id}/scores`, {
      headers: { authorization: service.serviceAuth },
      body: { userId: student.userId, points: 40 },
    })
    assert.equal(graded.status, 200)
    await until(() => client.lastLeaderboard()?.[0]?.score === 42, 'leaderboard after the grader')

    // Reconnecting keeps the participant, its score and what it answered.
    await closeAll([client])
    const again = await connectJoined(event.id, student.token)
    const rejoined = await again.joined()
    assert.equal(rejoined.participant.id, joined.participant.id)
    assert.equal(rejoined.participant.score, 42)
    assert.deepEqual(rejoined.answered, ['q2', 'q3'])
    assert.deepEqual(
      rejoined.history.map((h) => h.body),
      ['still here'],
    )
    await closeAll([again])
    await until(() => !hubOf().hasRoom(event.id), 'the room removed')
    await assertNoSessionHeld()
  })

  it('50 students connecting at once, each twice (a reconnect racing the old socket): 50 participants, consistent rooms', async () => {
    const event = await createEvent('crowd')
    const students = await loginMany('crowd', 50)
    const hub = hubOf()
    // Both sockets of every student open back to back, all students at once: 100 concurrent
    // joins, the two of one student racing each other to create its participant.
    const pairs = students.map((s) => [connect(event.id, s.token), connect(event.id, s.token)] as const)
    const first = pairs.map(([a]) => a)
    const second = pairs.map(([, b]) => b)
    const joinedFirst = await Promise.all(first.map((c) => c.joined()))
    const joinedSecond = await Promise.all(second.map((c) => c.joined()))
    for (const [i, s] of students.entries()) {
      assert.equal(joinedFirst[i]?.participant.userId, s.userId)
      assert.equal(joinedSecond[i]?.participant.id, joinedFirst[i]?.participant.id, 'one participant row per student')
    }
    const participants = await service.sql<{ user_id: string }>('SELECT user_id FROM participants WHERE event_id = $1', [event.id])
    assert.equal(participants.length, 50)
    assert.equal(new Set(participants.map((p) => p.user_id)).size, 50)
    assert.equal(hub.roomSize(event.id), 100)

    // The old sockets close while new ones (third connections) arrive.
    const third = students.slice(0, 25).map((s) => connect(event.id, s.token))
    await Promise.all([closeAll(first), ...third.map((c) => c.joined())])
    const open = [...second, ...third]
    await until(() => hub.roomSize(event.id) === open.length, `room size ${open.length} (is ${hub.roomSize(event.id)})`)
    assert.equal(open.filter((c) => c.ws.readyState === WebSocket.OPEN).length, 75)
    assert.equal((await service.sql('SELECT 1 FROM participants WHERE event_id = $1', [event.id])).length, 50)

    await closeAll(open)
    await until(() => !hub.hasRoom(event.id), 'the empty room removed')
    await assertNoSessionHeld()
  })

  it('50 students answering at once, some twice: scores are the sum of distinct correct answers; everyone gets the final leaderboard', async () => {
    const event = await createEvent('answers')
    const students = await loginMany('answerer', 50)
    const clients = await Promise.all(students.map((s) => connectJoined(event.id, s.token)))
    const expectedScores = new Map<number, number>()
    const sentPerClient: number[] = []
    for (const [i, client] of clients.entries()) {
      let score = 0
      let sent = 0
      for (const [q, question] of QUESTIONS.entries()) {
        const plan = (i + q) % 5
        // 0: right; 1: wrong; 2: right twice; 3: wrong, then right (too late); 4: skip.
        const answers = [[question.answer], ['nope'], [question.answer, question.answer], ['nope', question.answer], []][plan] ?? []
        if (answers[0] === question.answer) score += question.points
        for (const answer of answers) {
          client.send({ type: 'answer', questionId: question.id, answer })
          sent++
        }
      }
      expectedScores.set(students[i]?.userId ?? 0, score)
      sentPerClient.push(sent)
    }
    await until(() => clients.every((c, i) => c.of('answered').length === sentPerClient[i]), 'every answer acknowledged', 20_000)

    const rows = await service.sql<{ user_id: string; score: number; answered: string; answer_points: string }>(
      `SELECT p.user_id, p.score, count(a.question_id) AS answered, coalesce(sum(a.points), 0) AS answer_points
       FROM participants p LEFT JOIN answers a ON a.participant_id = p.id WHERE p.event_id = $1 GROUP BY p.id`,
      [event.id],
    )
    assert.equal(rows.length, 50)
    for (const row of rows) {
      const userId = Number(row.user_id)
      assert.equal(row.score, expectedScores.get(userId), `score of user ${userId}`)
      assert.equal(Number(row.answer_points), row.score, 'answers rows add up to the score')
      assert.equal(Number(row.answered), 4, 'one row per answered question (one of five skipped)')
    }

    const expected = await dbLeaderboard(event.id)
    assert.equal(expected.length, 20)
    await until(() => clients.every((c) => JSON.stringify(c.lastLeaderboard()) === JSON.stringify(expected)), 'every client holding the database top 20')
    // Coalesced: far fewer leaderboards than the ~120 score changes.
    const counts = clients.map((c) => c.of('leaderboard').length)
    assert.ok(Math.max(...counts) < 60, `leaderboards per client: ${Math.max(...counts)}`)

    await closeAll(clients)
    await until(() => !hubOf().hasRoom(event.id), 'the room removed')
    await assertNoSessionHeld()
  })

  it('chat: history and live messages without gaps or duplicates while 30 talk and 20 join and resume with since', async () => {
    const event = await createEvent('chat')
    const teacher = await service.sql<{ teacher_id: string }>('SELECT teacher_id FROM events WHERE id = $1', [event.id])
    // Older messages: a fresh join gets the latest 100 of them.
    await service.sql(`INSERT INTO chat_messages (event_id, user_id, body) SELECT $1, $2, 'old ' || g FROM generate_series(1, 120) g`, [
      event.id,
      teacher[0]?.teacher_id,
    ])
    const talkers = await loginMany('talker', 30)
    const listeners = await loginMany('listener', 20)
    const talkerClients = await Promise.all(talkers.map((s) => connectJoined(event.id, s.token)))
    for (const c of talkerClients) {
      const joined = await c.joined()
      assert.equal(joined.history.length, 100)
      assert.equal(joined.historyTruncated, true)
    }

    const PER_TALKER = 15
    const sending = Promise.all(
      talkerClients.map(async (c, i) => {
        for (let j = 0; j < PER_TALKER; j++) {
          c.send({ type: 'chat', body: `talker ${i} says ${j}` })
          await sleep(10 + randomInt(20))
        }
      }),
    )
    // Each listener joins, leaves and comes back twice, resuming from the last id it saw.
    const listening = Promise.all(
      listeners.map(async (s) => {
        const sessions: LiveClient[] = []
        let since: number | undefined
        for (let round = 0; round < 3; round++) {
          await sleep(randomInt(30))
          const c = connect(event.id, s.token, since)
          sessions.push(c)
          await c.joined()
          await sleep(randomInt(30))
          if (round < 2) {
            c.ws.close()
            await c.closed
            since = c.chatIds().at(-1) ?? since
          }
        }
        return sessions
      }),
    )
    await sending
    const listenerSessions = await listening
    const total = 120 + 30 * PER_TALKER
    await until(async () => (await service.sql('SELECT 1 FROM chat_messages WHERE event_id = $1', [event.id])).length === total, `${total} messages stored`)
    const dbIds = (await service.sql<{ id: string }>('SELECT id FROM chat_messages WHERE event_id = $1 ORDER BY id', [event.id])).map((r) => Number(r.id))
    const lastId = dbIds.at(-1)
    const sequences = (): number[][] => [...talkerClients.map((c) => c.chatIds()), ...listenerSessions.map((sessions) => sessions.flatMap((c) => c.chatIds()))]
    await until(() => sequences().every((ids) => ids.at(-1) === lastId), 'every client reached the last message')

    for (const [n, ids] of sequences().entries()) {
      for (let k = 1; k < ids.length; k++) assert.ok((ids[k] ?? 0) > (ids[k - 1] ?? 0), `client ${n}: ids strictly increase (${ids[k - 1]} then ${ids[k]})`)
      const first = ids[0] ?? 0
      const expected = dbIds.filter((id) => id >= first && id <= (ids.at(-1) ?? 0))
      assert.deepEqual(ids, expected, `client ${n}: every stored message of its span, once`)
    }
    // Each talker's messages are stored (and numbered) in the order it sent them.
    const stored = await service.sql<{ user_id: string; body: string }>('SELECT user_id, body FROM chat_messages WHERE event_id = $1 AND id > $2 ORDER BY id', [
      event.id,
      dbIds[119],
    ])
    for (const [i, talker] of talkers.entries()) {
      const bodies = stored.filter((r) => Number(r.user_id) === talker.userId).map((r) => r.body)
      assert.deepEqual(
        bodies,
        range(PER_TALKER).map((j) => `talker ${i} says ${j}`),
      )
    }
    // The resumes really happened mid-conversation: some listener's later session started with history.
    assert.ok(listenerSessions.some((sessions) => sessions.slice(1).some((c) => (c.of('joined')[0]?.history.length ?? 0) > 0)))

    await closeAll([...talkerClients, ...listenerSessions.flatMap((sessions) => sessions.slice(-1))])
    await until(() => !hubOf().hasRoom(event.id), 'the room removed')
    await assertNoSessionHeld()
  })

  it('a client that stops reading is closed with 1013 while the others keep receiving', async () => {
    const event = await createEvent('slow')
    const [slowUser, flooderUser, ...others] = await loginMany('reader', 5)
    assert.ok(slowUser && flooderUser)
    const slow = await connectJoined(event.id, slowUser.token)
    const flooder = await connectJoined(event.id, flooderUser.token)
    const readers = await Promise.all(others.map((s) => connectJoined(event.id, s.token)))
    const hub = hubOf()
    assert.equal(hub.roomSize(event.id), 5)
    slow.tcp.pause()

    // 1.5 kB messages, in rounds, until the server gives up on the stalled client (its kernel
    // buffers fill first, then the 1 MiB bound).
    const body = '€'.repeat(500)
    let sent = 0
    for (let round = 0; round < 60 && hub.roomSize(event.id) === 5; round++) {
      const started = Date.now()
      for (let i = 0; i < 200; i++) flooder.send({ type: 'chat', body: `${sent++} ${body}`.slice(0, 500) })
      await until(() => [flooder, ...readers].every((c) => c.of('chat').length === sent), `round ${round} delivered to the readers`, 5_000)
      assert.ok(Date.now() - started < 5_000, 'readers are served on time')
    }
    assert.equal(hub.roomSize(event.id), 4, `the stalled client was dropped (after ${sent} messages)`)
    const stored = (await service.sql('SELECT 1 FROM chat_messages WHERE event_id = $1', [event.id])).length
    for (const reader of [flooder, ...readers]) assert.equal(reader.of('chat').length, stored, 'readers got every message')
    assert.equal(slow.isClosed, false, 'the stalled client has not read its close yet')

    // The stalled tab wakes up: it reads what was queued, then the close.
    slow.tcp.resume()
    const { code, reason } = await slow.closed
    assert.equal(code, 1013)
    assert.equal(reason, 'too slow')
    assert.ok(slow.of('chat').length < stored, 'the slow client did not get everything')

    await closeAll([flooder, ...readers])
    await until(() => !hubOf().hasRoom(event.id), 'the room removed')
    await assertNoSessionHeld()
  })

  it('shutdown closes every socket with 1001 and app.close() completes, even with a stalled client', async () => {
    const other = await startService()
    const event = await createEvent('shutdown', other)
    const users = await Promise.all(range(4).map((i) => other.login(`leaver-${i}`)))
    const clients = users.map((u) => connect(event.id, u.token, undefined, other))
    await Promise.all(clients.map((c) => c.joined()))
    const stalled = clients[0] as LiveClient
    stalled.tcp.pause()

    const started = Date.now()
    await other.app.close()
    assert.ok(Date.now() - started < 10_000, `app.close() took ${Date.now() - started} ms`)
    const healthy = await Promise.all(clients.slice(1).map((c) => c.closed))
    for (const { code } of healthy) assert.equal(code, 1001, `close code ${code}`)
    stalled.tcp.resume()
    await stalled.closed
    await until(() => eventHub(other.app.context)?.socketCount === 0, 'every socket detached')
    await assertNoSessionHeld(other)
  })
})
