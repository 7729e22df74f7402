/**
 * Two classroom instances (real processes) on one database serve the same live events: clients on
 * either see chat and leaderboard changes made through the other. One instance is killed with
 * SIGKILL mid-stream; its clients reconnect to the other with `since=`. In the end every client
 * got every committed message exactly once, in id order, and the chat is what the database holds.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocket } from 'ws'
import { createTestDatabase, withClient } from '@pgsteward/testkit'
import { scratch, startMain, until, type Started } from './process-support.ts'
import { startService } from './support.ts'

interface ChatView {
  id: number
  userId: number
  body: string
}

interface Message {
  type: string
  history?: ChatView[]
  message?: ChatView
  leaderboard?: { userId: number; score: number }[]
  code?: string
}

/** A student's live connection to one instance; reconnects elsewhere with `since=` keep its record. */
class Student {
  readonly name: string
  readonly token: string
  readonly userId: number
  /** Every chat message this student was shown, across its connections: history, then live. */
  readonly chat: ChatView[] = []
  readonly leaderboards: { userId: number; score: number }[][] = []
  readonly errors: Message[] = []
  ws: WebSocket | undefined
  sent = 0

  constructor(name: string, token: string, userId: number) {
    this.name = name
    this.token = token
    this.userId = userId
  }

  get lastId(): number {
    return this.chat.at(-1)?.id ?? 0
  }

  /** Connect to `base` (resuming after the last message seen) and wait for `joined`. */
  async connect(base: string, eventId: number): Promise<void> {
    const since = this.chat.length > 0 ? `&since=${this.lastId}` : ''
    const ws = new WebSocket(`${base.replace('http', 'ws')}/events/${eventId}/live?token=${this.token}${since}`)
    this.ws = ws
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        const message = JSON.parse((data as Buffer).toString('utf8')) as Message
        if (message.type === 'joined') {
          this.chat.push(...(message.history ?? []))
          resolve()
        } else if (message.type === 'chat' && message.message) this.chat.push(message.message)
        else if (message.type === 'leaderboard' && message.leaderboard) this.leaderboards.push(message.leaderboard)
        else if (message.type === 'error') this.errors.push(message)
      })
      ws.on('error', reject)
      ws.on('close', () => reject(new Error(`${this.name}: closed before joining`)))
    })
  }

  say(): void {
    this.ws?.send(JSON.stringify({ type: 'chat', body: `${this.name} #${this.sent++}` }))
  }

  answer(questionId: string, answer: string): void {
    this.ws?.send(JSON.stringify({ type: 'answer', questionId, answer }))
  }

  scoreOf(userId: number): number | undefined {
    return this.leaderboards.at(-1)?.find((e) => e.userId === userId)?.score
  }
}

const QUESTIONS = [
  { id: 'q1', answer: 'one', points: 1 },
  { id: 'q2', answer: 'two', points: 10 },
]

describe('several classroom instances on one database', () => {
  it('serve the same live events; a killed instance loses nothing for clients that reconnect elsewhere with since=', async () => {
    const databaseUrl = await createTestDatabase('multi')
    // Shared secrets: a token of one instance is good at the other.
    const env = {
      DATABASE_URL: databaseUrl,
      NODE_ENV: 'test',
      JWT_SECRET: randomBytes(32).toString('hex'),
      SERVICE_SECRET: randomBytes(32).toString('hex'),
      LIVE_MESSAGES_PER_SECOND: '10000',
      LIVE_MESSAGE_BURST: '10000',
      SHUTDOWN_GRACE_MS: '1000',
    }
    const instances: Started[] = [
      startMain({ ...env, DATA_DIR: path.join(scratch, 'multi-a') }),
      startMain({ ...env, DATA_DIR: path.join(scratch, 'multi-b') }),
    ]
    try {
      const [a, b] = await Promise.all(instances.map((i) => i.url))
      assert.ok(a !== undefined && b !== undefined)
      const login = async (base: string, username: string, groups: string[] = []): Promise<{ token: string; userId: number }> => {
        const res = await fetch(`${base}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username, groups }),
        })
        assert.equal(res.status, 200)
        const body = (await res.json()) as { accessToken: string; user: { id: number } }
        return { token: body.accessToken, userId: body.user.id }
      }
      const teacher = await login(a, 'multi-teacher', ['teachers'])
      const created = await fetch(`${a}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${teacher.token}` },
        body: JSON.stringify({ title: 'Across instances', questions: QUESTIONS }),
      })
      assert.equal(created.status, 201)
      const eventId = ((await created.json()) as { id: number }).id

      const students: Student[] = []
      for (const [name, base] of [
        ['a1', a],
        ['a2', a],
        ['b1', b],
        ['b2', b],
      ] as const) {
        const { token, userId } = await login(base, `multi-${name}`)
        const student = new Student(name, token, userId)
        await student.connect(base, eventId)
        students.push(student)
      }
      const [a1, , b1, b2] = students as [Student, Student, Student, Student]

      // Answers through one instance show on the other's leaderboard.
      b1.answer('q2', 'two')
      await until(() => a1.scoreOf(b1.userId) === 10, 'a1 (instance A) sees the points b1 scored through instance B')
      a1.answer('q1', 'one')
      await until(() => b2.scoreOf(a1.userId) === 1, 'b2 (instance B) sees the points a1 scored through instance A')

      // Chat through both, then kill B while its clients are still sending.
      for (let round = 0; round < 40; round++) {
        for (const s of students) s.say()
        await sleep(2)
      }
      await until(() => students.every((s) => s.chat.length >= 40), 'some chat reached every client through both instances', 30_000)
      const killing = (async () => {
        for (let round = 0; round < 40; round++) {
          for (const s of students) s.say()
          await sleep(1)
        }
      })()
      await sleep(5)
      instances[1]?.child.kill('SIGKILL')
      await killing
      await instances[1]?.exited

      // B's clients come back through A, resuming after the last message each saw.
      for (const s of [b1, b2]) {
        s.ws?.terminate()
        await s.connect(a, eventId)
      }
      for (let round = 0; round < 20; round++) {
        for (const s of students) s.say()
        await sleep(2)
      }
      // Everyone's last message went through A, which is alive: it is stored and shown everywhere.
      const lastBodies = students.map((s) => `${s.name} #${s.sent - 1}`)
      await until(
        () => students.every((s) => lastBodies.every((body) => s.chat.some((m) => m.body === body))),
        "every student's last message reached every client",
        60_000,
      )

      const committed = await withClient(
        databaseUrl,
        async (c) => (await c.query<{ id: string; body: string }>('SELECT id, body FROM chat_messages WHERE event_id = $1 ORDER BY id', [eventId])).rows,
      )
      const expected = committed.map((r) => `${Number(r.id)} ${r.body}`)
      assert.ok(committed.length >= 4 * 60, `at least what went through A is stored: ${committed.length}`)
      for (const s of students) {
        assert.deepEqual(s.errors, [], `${s.name}: no errors`)
        // Exactly once, in order: the same list as the database's, neither more nor less.
        assert.deepEqual(
          s.chat.map((m) => `${m.id} ${m.body}`),
          expected,
          `${s.name} saw every committed message once, in order`,
        )
      }
      // Each sender's own messages are stored in the order sent (none reordered by the failover).
      for (const s of students) {
        const own = committed.filter((r) => r.body.startsWith(`${s.name} #`)).map((r) => Number(r.body.split('#')[1]))
        assert.deepEqual(
          own,
          [...own].sort((x, y) => x - y),
          `${s.name}'s messages in the order sent`,
        )
      }
      for (const s of students) s.ws?.close()
    } finally {
      for (const instance of instances) instance.child.kill('SIGTERM')
      await Promise.all(instances.map((i) => i.exited))
    }
  })

  it('a lost listening connection loses nothing: the feed catches up from the database (onGap)', async () => {
    const first = await startService()
    const second = await startService({ databaseUrl: first.databaseUrl })
    const teacher = await first.login('gap-teacher', ['teachers'])
    const created = await first.request('POST', '/events', { token: teacher.token, body: { title: 'Gap', questions: QUESTIONS } })
    assert.equal(created.status, 201)
    const eventId = (created.body as { id: number }).id
    const onFirst = new Student('x', (await first.login('gap-x')).token, 0)
    const onSecond = new Student('y', (await second.login('gap-y')).token, 0)
    await onFirst.connect(first.url, eventId)
    await onSecond.connect(second.url, eventId)
    onSecond.say()
    await until(() => onFirst.chat.length === 1, 'a message across instances')

    // Every listening connection of this database is cut; messages are sent while they come back.
    const cut = await first.sql<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pg_terminate_backend(pid)",
    )
    assert.equal(cut.length, 2, 'both instances were listening')
    for (let i = 0; i < 10; i++) onSecond.say()
    await until(() => onFirst.chat.length === 11 && onSecond.chat.length === 11, 'the messages sent while the listener was away', 30_000)
    const committed = await first.sql<{ id: string }>('SELECT id FROM chat_messages WHERE event_id = $1 ORDER BY id', [eventId])
    for (const s of [onFirst, onSecond])
      assert.deepEqual(
        s.chat.map((m) => m.id),
        committed.map((r) => Number(r.id)),
      )
    await until(
      async () => (await first.sql('SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE $1', ['LISTEN%'])).length === 2,
      'both listening again',
    )
    onFirst.ws?.close()
    onSecond.ws?.close()
  })
})
