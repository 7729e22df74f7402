/**
 * Incident 003: a live-event WebSocket hub under churn and a slow client. The naive hub creates a
 * room lazily after an await (concurrent first connections each create one and overwrite each
 * other), gets a participant by looking it up then inserting it, removes members by user on
 * close (a reconnect's old socket closing removes the new one) and broadcasts by awaiting each
 * client's send in turn (a client that stops reading stalls everyone after it). The same
 * workload runs against the classroom service's hub over real HTTP and WebSocket.
 */
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type pg from 'pg'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { startClassroom } from '../classroom-service.ts'
import { naivePool, sleep } from '../naive-pool.ts'
import type { ScenarioContext } from '../scenario.ts'
import { defineScenario } from '../scenario.ts'

/** A delivery later than this is reported as late; nothing arriving for this long, then arriving once the slow client reads, is a hub that waited on it. */
export const DELIVERY_BOUND_MS = 2_000
/** Close code a hub uses for a client it gives up on (too slow). */
const CLOSE_TRY_AGAIN_LATER = 1013
/** What a client reports when the connection ended without a close frame. */
const CLOSE_ABNORMAL = 1006
/** What a hub may queue for one client that stopped reading (the classroom hub's bound). */
export const QUEUE_BOUND_BYTES = 1024 * 1024
const MAX_BODY_CHARS = 500
/** Messages per burst, and the pause between bursts: a steady chat flood, the same for both. */
const BURST = 50
const BURST_EVERY_MS = 25

export interface HubOutcome {
  eventId: number
  /** Every user that connected (students, the publisher, the slow client): one participant row each. */
  userIds: number[]
  /** Client sockets still open once the churn settled. */
  openSockets: number
  /** What the hub itself counted in the event's room at that moment. */
  hubMembers: number
  /** Chat messages the publisher sent. */
  messages: number
  /** Per reading client (every student's current socket and the publisher's). */
  readers: {
    missing: number
    late: number
    /** Deliveries that stalled (nothing for a whole bound) until the slow client read again, then came. */
    heldUntilSlowRead: number
    slowestMs: number
  }[]
  slow: { received: number; receivedBytes: number; closeCode: number | null }
  /** What a loopback connection's kernel buffers hold when the receiver stops reading (measured). */
  kernelBufferBytes: number
  /** Sockets the server closed with 1013 (too slow), as the clients saw it. */
  closedTooSlow: number
  /** Sockets the server cut without a close frame (1006: e.g. terminated after a close that was not read in time). */
  cutWithoutClose: number
}

/** A delivery given up on (one shared instance: hundreds of thousands of stack traces cost seconds). */
class Undelivered extends Error {
  override readonly name = 'undelivered'
}
const UNDELIVERED = new Undelivered('the message never arrived')

const CHAT_PREFIX = Buffer.from('{"type":"chat"')
const BODY_KEY = Buffer.from('"body":"')

/**
 * The message index at the start of a chat frame's body, read from the bytes: both servers send
 * `{"type":"chat","message":{..., "body":"<index> ..."}}`, and decoding hundreds of thousands of
 * 1.5 kB frames would make the clients, not the hubs, the bottleneck. -1: not a chat frame.
 */
function chatIndex(frame: Buffer): number {
  if (frame.length < CHAT_PREFIX.length || frame.compare(CHAT_PREFIX, 0, CHAT_PREFIX.length, 0, CHAT_PREFIX.length) !== 0) return -1
  let at = frame.indexOf(BODY_KEY)
  if (at < 0) return -1
  at += BODY_KEY.length
  let index = 0
  let digits = 0
  for (; at < frame.length; at++, digits++) {
    const c = frame[at] ?? 0
    if (c < 48 || c > 57) break
    index = index * 10 + (c - 48)
  }
  return digits === 0 ? -1 : index
}

/** A live WebSocket client that records when each chat message (by the index in its body) arrived. */
class LiveClient {
  readonly ws: WebSocket
  /** performance.now() of each message's arrival; 0: not (yet) received. */
  readonly arrivedAt: Float64Array
  received = 0
  /** Bytes of the chat frames received. */
  receivedBytes = 0
  joined = false
  closeCode: number | null = null
  readonly opened: Promise<boolean>
  readonly joinedOrClosed: Promise<void>
  readonly closed: Promise<void>
  readonly #waiters: ({ resolve: () => void; reject: (err: Error) => void } | undefined)[] = []

  constructor(url: string, messages: number) {
    this.arrivedAt = new Float64Array(messages)
    this.ws = new WebSocket(url)
    let markJoined: () => void = () => undefined
    this.joinedOrClosed = new Promise((resolve) => (markJoined = resolve))
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        this.closeCode = code
        markJoined()
        resolve()
      })
    })
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true))
      this.ws.once('close', () => resolve(false))
    })
    // A refused upgrade or a reset is seen as a close; nothing to crash on.
    this.ws.on('error', () => undefined)
    this.ws.on('message', (data: RawData) => {
      const frame = Buffer.isBuffer(data) ? data : Buffer.from(rawText(data))
      const index = chatIndex(frame)
      if (index < 0) {
        if ((JSON.parse(frame.toString('utf8')) as { type?: unknown }).type === 'joined') {
          this.joined = true
          markJoined()
        }
        return
      }
      if (index >= this.arrivedAt.length || this.arrivedAt[index] !== 0) return
      this.arrivedAt[index] = performance.now()
      this.received++
      this.receivedBytes += frame.length
      this.#waiters[index]?.resolve()
      this.#waiters[index] = undefined
    })
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** Resolves when message `index` arrives, rejects when `giveUp` is called first. */
  delivery(index: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters[index] = { resolve, reject }
    })
  }

  giveUp(): void {
    for (let i = 0; i < this.#waiters.length; i++) {
      this.#waiters[i]?.reject(UNDELIVERED)
      this.#waiters[i] = undefined
    }
  }

  /** The underlying TCP socket: pausing it is a tab that stopped reading. */
  get tcp(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}

/** Poll until `done()` or `timeoutMs`; true if it got done. */
async function until(done: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!done()) {
    if (performance.now() > deadline) return false
    await sleep(everyMs)
  }
  return true
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** `work`, or `fallback` after `ms`; the timer is cleared either way (none left to hold the process). */
function withTimeout<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Bytes a loopback WebSocket connection absorbs (the sender's and the receiver's kernel buffers)
 * once the receiving client stops reading, before anything queues in the sending process: sent
 * like the chat flood (frames of `frameBytes`, in bursts) until 1 MiB is queued. Measured once per
 * process, so both variants get the same number of messages.
 */
let kernelBuffers: Promise<number> | undefined
function measureKernelBuffers(frameBytes: number): Promise<number> {
  kernelBuffers ??= (async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    try {
      await new Promise<void>((resolve, reject) => {
        wss.once('listening', resolve)
        wss.once('error', reject)
      })
      const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve))
      const address = wss.address()
      const client = new WebSocket(`ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`)
      client.on('error', () => undefined)
      try {
        await new Promise((resolve) => client.once('open', resolve))
        const sender = await accepted
        ;(client as unknown as { _socket: Socket })._socket.pause()
        const frame = Buffer.alloc(frameBytes, 0x61)
        let sent = 0
        for (let i = 0; i < 40_000 && sender.bufferedAmount <= QUEUE_BOUND_BYTES; i++) {
          sender.send(frame)
          sent += frame.length
          if (i % 50 === 49) await sleep(5)
        }
        return sent - sender.bufferedAmount
      } finally {
        client.terminate()
      }
    } finally {
      for (const ws of wss.clients) ws.terminate()
      await new Promise((resolve) => wss.close(resolve))
    }
  })()
  return kernelBuffers
}

/** What differs between the variants: where to connect, and how many members the hub counts. */
interface Target {
  eventId: number
  userIds: number[]
  /** The live URL for user `i` of `userIds` (the students, then the publisher, then the slow client). */
  url(i: number): string
  hubMembers(): Promise<number>
}

/**
 * The workload, the same for both: everyone connects at once; half the students reconnect at
 * once (a second socket as soon as the first is open, the first closed once the second joined);
 * one client stops reading; the publisher floods the chat; each reading client's deliveries are
 * timed from the publisher's send.
 */
async function runWorkload(ctx: ScenarioContext, target: Target): Promise<HubOutcome> {
  // Near-limit messages (3 bytes a character: fewer, larger frames for the same bytes).
  const filler = '€'.repeat(MAX_BODY_CHARS)
  const frameBytes = Buffer.byteLength(filler) + 100
  const kernelBufferBytes = await measureKernelBuffers(frameBytes)
  // Enough that the slow client's kernel buffers fill and then more than a hub's queue bound piles
  // up, with a margin (a larger one in full runs). ws counts queued text in UTF-16 units, not
  // bytes (bufferedAmount), so a hub bounding it at 1 MiB may hold up to 3 MiB of this text.
  const needed = ((kernelBufferBytes + 3 * QUEUE_BOUND_BYTES) * (ctx.quick ? 1.1 : 1.4)) / frameBytes
  const messages = Math.min(40_000, Math.max(1_000, Math.ceil(needed / BURST) * BURST))
  const clients: LiveClient[] = []
  const open = (i: number): LiveClient => {
    const client = new LiveClient(target.url(i), messages)
    clients.push(client)
    return client
  }
  ctx.onCleanup(async () => {
    for (const client of clients) client.ws.terminate()
  })

  const started = performance.now()
  // Everyone at once, in this order: the students, the publisher, the slow client.
  const first = target.userIds.map((_, i) => open(i))
  const current = [...first]
  const students = target.userIds.length - 2
  const reconnecting = target.userIds.map((_, i) => i < students && i % 2 === 0)
  await Promise.all(
    first.map(async (client, i) => {
      if (!reconnecting[i]) return withTimeout(client.joinedOrClosed, 10_000, undefined)
      if (!(await withTimeout(client.opened, 10_000, false))) return
      const second = open(i)
      current[i] = second
      await withTimeout(second.joinedOrClosed, 10_000, undefined)
      client.ws.close(1000, 'reconnected')
      await withTimeout(client.closed, 5_000, undefined)
    }),
  )
  // The hub hears about the closes a moment after the clients do.
  await sleep(300)
  const openSockets = clients.filter((c) => c.isOpen).length
  const hubMembers = await target.hubMembers()
  const neverJoined = current.filter((c) => !c.joined).length
  ctx.note(
    `churn: ${target.userIds.length} clients, ${reconnecting.filter(Boolean).length} reconnected, settled in ${Math.round(performance.now() - started)} ms; hub counts ${hubMembers} member(s) for ${openSockets} open socket(s)${neverJoined > 0 ? `; ${neverJoined} never got 'joined'` : ''}`,
  )

  const publisher = current[students] as LiveClient
  const slow = current[students + 1] as LiveClient
  const readers = current.slice(0, students + 1)
  slow.tcp.pause()

  const sentAt = new Float64Array(messages)
  const deliveries: Promise<unknown>[] = []
  const publishStarted = performance.now()
  for (let i = 0; i < messages; i++) {
    if (i > 0 && i % BURST === 0) await sleep(BURST_EVERY_MS)
    for (const reader of readers) deliveries.push(ctx.recorder.op(() => reader.delivery(i)))
    sentAt[i] = performance.now()
    if (publisher.isOpen) publisher.ws.send(JSON.stringify({ type: 'chat', body: `${i} ${filler}`.slice(0, MAX_BODY_CHARS) }))
  }
  const lastSent = performance.now()
  const everyoneHasAll = (): boolean => readers.every((r) => r.received === messages)
  await until(everyoneHasAll, DELIVERY_BOUND_MS + 500)
  ctx.note(
    `published ${messages} messages of ~${frameBytes} bytes in ${Math.round(lastSent - publishStarted)} ms (kernel buffers of a stalled loopback connection: ${mb(kernelBufferBytes)})`,
  )

  // The stalled tab wakes up: whatever a hub waited on it for flows now.
  const resumedAt = performance.now()
  slow.tcp.resume()
  await until(() => everyoneHasAll() && (slow.closeCode !== null || slow.received === messages), 1_500)
  for (const reader of readers) reader.giveUp()
  await Promise.all(deliveries)

  const outcome: HubOutcome = {
    eventId: target.eventId,
    userIds: target.userIds,
    openSockets,
    hubMembers,
    messages,
    readers: readers.map((r) => {
      let missing = 0
      let late = 0
      let afterResume = 0
      let lastBeforeResume = publishStarted
      let slowestMs = 0
      for (let i = 0; i < messages; i++) {
        const at = r.arrivedAt[i] ?? 0
        if (at === 0) {
          missing++
          continue
        }
        const ms = at - (sentAt[i] ?? 0)
        slowestMs = Math.max(slowestMs, ms)
        if (ms > DELIVERY_BOUND_MS) late++
        if (at >= resumedAt) afterResume++
        else lastBeforeResume = Math.max(lastBeforeResume, at)
      }
      // Held: nothing arrived for a whole bound while messages were owed, then they came as soon
      // as the slow client read again. (A client merely behind keeps receiving meanwhile.)
      const held = afterResume > 0 && resumedAt - lastBeforeResume >= DELIVERY_BOUND_MS
      return { missing, late, heldUntilSlowRead: held ? afterResume : 0, slowestMs: Math.round(slowestMs) }
    }),
    slow: { received: slow.received, receivedBytes: slow.receivedBytes, closeCode: slow.closeCode },
    kernelBufferBytes,
    closedTooSlow: clients.filter((c) => c.closeCode === CLOSE_TRY_AGAIN_LATER).length,
    cutWithoutClose: clients.filter((c) => c.closeCode === CLOSE_ABNORMAL).length,
  }
  ctx.note(
    `slow client: received ${slow.received} of ${messages} messages (${mb(slow.receivedBytes)}, of which about ${mb(Math.max(0, slow.receivedBytes - kernelBufferBytes))} had queued in the hub), ${slow.closeCode === null ? 'never closed' : `closed with ${slow.closeCode}`}; sockets closed by the server: ${outcome.closedTooSlow} with 1013, ${outcome.cutWithoutClose} cut without a close frame (1006)`,
  )
  return outcome
}

interface ChatMessage {
  id: number
  userId: number
  username: string
  body: string
  createdAt: Date
}

/**
 * The hub as the incident's code had it, in TypeScript: idiomatic and short. Rooms of user id to
 * socket, created on first use; membership by user; broadcast waits for each send to complete.
 */
class NaiveHub {
  readonly rooms = new Map<number, Map<number, WebSocket>>()
  readonly #pool: pg.Pool

  constructor(pool: pg.Pool) {
    this.#pool = pool
  }

  async getRoom(eventId: number): Promise<Map<number, WebSocket>> {
    let room = this.rooms.get(eventId)
    if (room === undefined) {
      const { rows } = await this.#pool.query('SELECT id, title FROM events WHERE id = $1', [eventId])
      if (rows.length === 0) throw new Error(`no event ${eventId}`)
      room = new Map()
      this.rooms.set(eventId, room)
    }
    return room
  }

  async getOrCreateParticipant(eventId: number, userId: number): Promise<{ id: number; score: number }> {
    const found = await this.#pool.query<{ id: number; score: number }>('SELECT id, score FROM participants WHERE event_id = $1 AND user_id = $2', [
      eventId,
      userId,
    ])
    if (found.rows[0]) return found.rows[0]
    const created = await this.#pool.query<{ id: number; score: number }>('INSERT INTO participants (event_id, user_id) VALUES ($1, $2) RETURNING id, score', [
      eventId,
      userId,
    ])
    return created.rows[0] as { id: number; score: number }
  }

  async join(eventId: number, userId: number, ws: WebSocket): Promise<void> {
    const room = await this.getRoom(eventId)
    const participant = await this.getOrCreateParticipant(eventId, userId)
    room.set(userId, ws)
    const history = await this.#pool.query<ChatMessage>(
      'SELECT id, user_id AS "userId", username, body, created_at AS "createdAt" FROM chat_messages WHERE event_id = $1 ORDER BY id DESC LIMIT 50',
      [eventId],
    )
    ws.send(JSON.stringify({ type: 'joined', participant, history: history.rows.reverse() }))
  }

  leave(eventId: number, userId: number): void {
    const room = this.rooms.get(eventId)
    if (room === undefined) return
    room.delete(userId)
    if (room.size === 0) this.rooms.delete(eventId)
  }

  async broadcast(eventId: number, payload: unknown): Promise<void> {
    const room = this.rooms.get(eventId)
    if (room === undefined) return
    const data = JSON.stringify(payload)
    for (const [userId, ws] of room) {
      if (ws.readyState !== WebSocket.OPEN) continue
      try {
        await new Promise<void>((resolve, reject) => ws.send(data, (err) => (err ? reject(err) : resolve())))
      } catch {
        this.leave(eventId, userId)
      }
    }
  }

  async chat(eventId: number, userId: number, username: string, body: string): Promise<void> {
    const { rows } = await this.#pool.query<ChatMessage>(
      'INSERT INTO chat_messages (event_id, user_id, username, body) VALUES ($1, $2, $3, $4) RETURNING id, user_id AS "userId", username, body, created_at AS "createdAt"',
      [eventId, userId, username, body],
    )
    await this.broadcast(eventId, { type: 'chat', message: rows[0] })
  }
}

async function startNaiveServer(ctx: ScenarioContext): Promise<{ port: number; hub: NaiveHub }> {
  const pool = naivePool(ctx)
  const hub = new NaiveHub(pool)
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve)
    wss.once('error', reject)
  })
  ctx.onCleanup(async () => {
    for (const ws of wss.clients) ws.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })
  wss.on('connection', (ws, request) => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const eventId = Number(/^\/events\/(\d+)\/live$/.exec(url.pathname)?.[1])
    const userId = Number(url.searchParams.get('user'))
    const username = url.searchParams.get('name') ?? `user-${userId}`
    ws.on('close', () => hub.leave(eventId, userId))
    ws.on('message', (data) => {
      const message = JSON.parse(rawText(data)) as { type?: string; body?: string }
      if (message.type !== 'chat' || typeof message.body !== 'string' || message.body.length === 0 || message.body.length > MAX_BODY_CHARS) return
      hub.chat(eventId, userId, username, message.body).catch(() => ws.send(JSON.stringify({ type: 'error', message: 'chat failed' })))
    })
    hub.join(eventId, userId, ws).catch(() => ws.close(1011, 'join failed'))
  })
  const address = wss.address()
  if (typeof address !== 'object' || address === null) throw new Error('naive hub did not bind')
  return { port: address.port, hub }
}

export default defineScenario<HubOutcome>({
  id: 11,
  name: 'WebSocket hub: churn, slow client',
  incident: '003_e2fa8a9a0014bbd7.txt',
  failure: 'hub state races on connect/reconnect; a broadcast waits on a client that stopped reading',
  async setup(ctx, client) {
    if (ctx.variant === 'naive') {
      await client.query(`CREATE TABLE events (id serial PRIMARY KEY, title text NOT NULL);
        CREATE TABLE participants (id serial PRIMARY KEY, event_id int NOT NULL REFERENCES events(id), user_id int NOT NULL, score int NOT NULL DEFAULT 0, joined_at timestamptz NOT NULL DEFAULT now());
        CREATE INDEX participants_user_id_idx ON participants (user_id);
        CREATE TABLE chat_messages (id serial PRIMARY KEY, event_id int NOT NULL REFERENCES events(id), user_id int NOT NULL, username text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
    }
  },

  async naive(ctx) {
    const students = Math.min(ctx.users, 60)
    const [event] = await ctx.admin<{ id: number }>(`INSERT INTO events (title) VALUES ('live quiz') RETURNING id`)
    const eventId = event?.id ?? 0
    const { port, hub } = await startNaiveServer(ctx)
    const userIds = Array.from({ length: students + 2 }, (_, i) => i + 1)
    return runWorkload(ctx, {
      eventId,
      userIds,
      url: (i) => `ws://127.0.0.1:${port}/events/${eventId}/live?user=${userIds[i]}&name=student-${i}`,
      hubMembers: async () => hub.rooms.get(eventId)?.size ?? 0,
    })
  },

  async pgsteward(ctx) {
    const students = Math.min(ctx.users, 60)
    const service = await startClassroom(ctx)
    const teacher = await service.login('teacher', [service.teacherGroup])
    const created = await fetch(`${service.url}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${teacher}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'live quiz', questions: [{ id: 'q1', answer: 'a', points: 1 }] }),
    })
    if (created.status !== 201) throw new Error(`creating the event answered ${created.status}`)
    const eventId = ((await created.json()) as { id: number }).id
    const usernames = Array.from({ length: students + 2 }, (_, i) => `student-${i}`)
    const tokens = await Promise.all(usernames.map((u) => service.login(u)))
    const ids = await ctx.admin<{ id: number; username: string }>('SELECT id::int AS id, username FROM users WHERE username = ANY($1)', [usernames])
    const userIds = usernames.map((u) => ids.find((r) => r.username === u)?.id ?? 0)
    const wsUrl = service.url.replace(/^http/, 'ws')
    return runWorkload(ctx, {
      eventId,
      userIds,
      url: (i) => `${wsUrl}/events/${eventId}/live?token=${encodeURIComponent(tokens[i] ?? '')}`,
      hubMembers: async () => {
        const res = await fetch(`${service.url}/events/${eventId}`, { headers: { authorization: `Bearer ${teacher}` } })
        return ((await res.json()) as { online: number }).online
      },
    })
  },

  async check(ctx, outcome) {
    const out: string[] = []
    if (outcome.hubMembers !== outcome.openSockets) {
      out.push(`after the churn the hub counts ${outcome.hubMembers} member(s) in the room for ${outcome.openSockets} open socket(s)`)
    }
    const rows = await ctx.admin<{ user_id: number; n: number }>(
      'SELECT user_id::int AS user_id, count(*)::int AS n FROM participants WHERE event_id = $1 GROUP BY user_id',
      [outcome.eventId],
    )
    const count = new Map(rows.map((r) => [r.user_id, r.n]))
    const duplicated = outcome.userIds.filter((id) => (count.get(id) ?? 0) > 1).length
    const absent = outcome.userIds.filter((id) => !count.has(id)).length
    const strangers = rows.filter((r) => !outcome.userIds.includes(r.user_id)).length
    if (duplicated > 0) out.push(`${duplicated} of ${outcome.userIds.length} users have more than one participant row`)
    if (absent > 0) out.push(`${absent} of ${outcome.userIds.length} users have no participant row`)
    if (strangers > 0) out.push(`${strangers} participant row(s) belong to users that never connected`)

    const total = outcome.readers.length * outcome.messages
    const missing = outcome.readers.reduce((s, r) => s + r.missing, 0)
    const late = outcome.readers.reduce((s, r) => s + r.late, 0)
    if (missing > 0) {
      const affected = outcome.readers.filter((r) => r.missing > 0).length
      out.push(`${missing} of ${total} deliveries to reading clients never arrived (${affected} of ${outcome.readers.length} clients missed messages)`)
    }
    // Slow deliveries are a figure, not a verdict: a loaded machine makes them slow too. That the
    // hub waited on the slow client is behaviour, checked below (held until it read again).
    const slowest = Math.max(0, ...outcome.readers.map((r) => r.slowestMs))
    ctx.note(`${late} of ${total} deliveries to reading clients took longer than ${DELIVERY_BOUND_MS / 1000} s (slowest ${slowest} ms)`)
    const heldUp = outcome.readers.reduce((s, r) => s + r.heldUntilSlowRead, 0)
    if (heldUp > 0) {
      const affected = outcome.readers.filter((r) => r.heldUntilSlowRead > 0).length
      out.push(`${heldUp} deliveries to ${affected} reading client(s) arrived only once the slow client read again: the hub waited for it`)
    }
    // Beyond what the kernel held, the rest of what the slow client read had been queued for it
    // in the hub: more than the bound, without cutting it off, is waiting for it.
    const queuedForSlow = outcome.slow.receivedBytes - outcome.kernelBufferBytes
    if (outcome.slow.closeCode === null && queuedForSlow > QUEUE_BOUND_BYTES * 1.25) {
      out.push(
        `the client that stopped reading was never cut off: the hub queued about ${mb(queuedForSlow)} for it beyond the kernel buffers (bound ${mb(QUEUE_BOUND_BYTES)})`,
      )
    }
    return out
  },
})
