/**
 * Live events from the database, for one instance among several. The database is the source of
 * truth: every instance's sockets get exactly what was committed, in id order, whoever committed
 * it, and a lost notification or a listener reconnect loses nothing.
 *
 * - Chat messages of one event are committed in id order (each insert takes the event's row lock
 *   before its ids are drawn: see `insertChatMessages`), so what any snapshot holds of a room's
 *   chat is every message up to some id and nothing after it.
 * - Triggers announce every change on the channel `classroom_live` inside the writing
 *   transaction (migration 0003): `c:<event id>` new chat, `l:<event id>` scores changed. The
 *   payload only names the room.
 * - Per room with sockets on this instance the feed remembers the last chat id it delivered. On a
 *   notification, after a local write, or after the listener reconnected (`onGap`: every room),
 *   it reads the room's messages with a greater id, in order, and hands them to the hub. One read
 *   per room at a time; notifications meanwhile make it read once more.
 * - A room's last id is read when the room's first socket joins, before that socket's history is
 *   read: whatever commits after it reaches the room through the feed (and the joining socket
 *   drops what its history already held), whatever committed before it is in the history.
 *
 * Notifications come from a `NotificationSource` (pgsteward's `db.listen` has this shape).
 */
import { AsyncResource } from 'node:async_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from 'pgsteward'
import { lastChatId, readChatAfter } from './event-store.ts'
import type { Hub } from './hub.ts'
import type { InflightWork } from './inflight.ts'
import type { LeaderboardPublisher } from './leaderboard.ts'

/** The channel the triggers of migration 0003 notify. */
export const LIVE_CHANNEL = 'classroom_live'

/**
 * Where notifications come from: `db.listen` of pgsteward has exactly this shape.
 * `onGap` is called when notifications may have been missed (the listening connection was lost
 * and is back): the caller catches up from the database.
 */
export interface NotificationSource {
  listen(channel: string, onNotification: (payload: string) => void, options?: { onGap?: () => void }): Promise<() => Promise<void>>
}

/** Messages read per round; a room further behind reads again at once. */
const READ_BATCH = 500
const PAUSE_AFTER_FAILURE_MS = 1_000

interface RoomFeed {
  /** Resolves once `lastSeen` is known (the room's last id when its first socket joined). */
  ready: Promise<void>
  initialised: boolean
  lastSeen: number
  reading: boolean
  /** Something may have been committed since the running (or last) read began. */
  dirty: boolean
  retry: NodeJS.Timeout | undefined
  /** Local writers waiting until their messages were handed to the hub. */
  waiters: { id: number; resolve: () => void }[]
}

export class LiveFeed {
  readonly #db: Database
  readonly #hub: Hub
  readonly #leaderboard: LeaderboardPublisher
  readonly #inflight: InflightWork
  readonly #log: FastifyBaseLogger
  readonly #rooms = new Map<number, RoomFeed>()
  // Reads run in the context the feed was created in, never a caller's (a transaction's).
  readonly #run: (fn: () => void) => void
  #unlisten: (() => Promise<void>) | undefined
  #stopped = false

  constructor(deps: { db: Database; hub: Hub; leaderboard: LeaderboardPublisher; inflight: InflightWork; log: FastifyBaseLogger }) {
    this.#db = deps.db
    this.#hub = deps.hub
    this.#leaderboard = deps.leaderboard
    this.#inflight = deps.inflight
    this.#log = deps.log
    this.#run = AsyncResource.bind((fn: () => void) => fn())
    this.#hub.onRoomClosed((eventId) => this.#forget(eventId))
  }

  /** Follow every instance's writes (this one's included: its own notifications come back too). */
  async listen(source: NotificationSource): Promise<void> {
    this.#unlisten = await source.listen(LIVE_CHANNEL, (payload) => this.#onNotification(payload), {
      onGap: () => {
        this.#log.info({ rooms: this.#rooms.size }, 'live notifications may have been missed: catching up from the database')
        for (const eventId of this.#rooms.keys()) {
          this.#pull(eventId)
          this.#leaderboard.schedule(eventId)
        }
      },
    })
  }

  /**
   * Called by a joining socket, after it entered the room and before its history is read: the
   * room's feed knows where it stands.
   */
  ready(eventId: number): Promise<void> {
    let room = this.#rooms.get(eventId)
    if (room === undefined) {
      const created: RoomFeed = { ready: Promise.resolve(), initialised: false, lastSeen: 0, reading: false, dirty: false, retry: undefined, waiters: [] }
      created.ready = lastChatId(this.#db, eventId).then((id) => {
        created.lastSeen = id
        created.initialised = true
        // Notifications that came while this read ran.
        if (created.dirty && this.#rooms.get(eventId) === created) this.#pull(eventId)
      })
      // A failed read leaves no half-known room behind: the next joiner tries again.
      created.ready.catch(() => {
        if (this.#rooms.get(eventId) === created) this.#rooms.delete(eventId)
      })
      this.#rooms.set(eventId, created)
      room = created
    }
    return room.ready
  }

  /** Messages up to `id` were committed here: resolves once the room's sockets were handed them. */
  delivered(eventId: number, id: number): Promise<void> {
    const room = this.#rooms.get(eventId)
    if (room === undefined || this.#stopped || (room.initialised && room.lastSeen >= id)) return Promise.resolve()
    return new Promise<void>((resolve) => {
      room.waiters.push({ id, resolve })
      this.#pull(eventId)
    })
  }

  /** No more reads; local writers waiting are let go. Reads already running finish (tracked). */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const eventId of [...this.#rooms.keys()]) this.#forget(eventId)
    await this.#unlisten?.().catch((err: unknown) => this.#log.warn({ err }, 'stopping the live listener failed'))
  }

  #onNotification(payload: string): void {
    const match = /^([cl]):([1-9][0-9]{0,15})$/.exec(payload)
    if (match === null) return
    const eventId = Number(match[2])
    if (!this.#rooms.has(eventId)) return
    if (match[1] === 'c') this.#pull(eventId)
    else this.#leaderboard.schedule(eventId)
  }

  #pull(eventId: number): void {
    const room = this.#rooms.get(eventId)
    if (room === undefined || this.#stopped) return
    room.dirty = true
    if (!room.initialised || room.reading || room.retry !== undefined) return
    room.reading = true
    this.#run(() => void this.#inflight.track(this.#read(eventId, room)))
  }

  async #read(eventId: number, room: RoomFeed): Promise<void> {
    try {
      while (room.dirty && this.#rooms.get(eventId) === room) {
        room.dirty = false
        const messages = await readChatAfter(this.#db, eventId, room.lastSeen, READ_BATCH)
        if (this.#rooms.get(eventId) !== room) return
        for (const message of messages) {
          if (message.id <= room.lastSeen) continue
          room.lastSeen = message.id
          this.#hub.publishChat(eventId, message)
        }
        if (messages.length === READ_BATCH) room.dirty = true
        this.#release(room)
      }
    } catch (err) {
      this.#log.error({ err, eventId }, 'reading live chat failed; retrying')
      room.dirty = true
      room.retry = setTimeout(() => {
        room.retry = undefined
        this.#pull(eventId)
      }, PAUSE_AFTER_FAILURE_MS)
      room.retry.unref()
    } finally {
      room.reading = false
    }
  }

  #release(room: RoomFeed): void {
    if (room.waiters.length === 0) return
    const still: RoomFeed['waiters'] = []
    for (const waiter of room.waiters) {
      if (waiter.id <= room.lastSeen) waiter.resolve()
      else still.push(waiter)
    }
    room.waiters = still
  }

  #forget(eventId: number): void {
    const room = this.#rooms.get(eventId)
    if (room === undefined) return
    this.#rooms.delete(eventId)
    clearTimeout(room.retry)
    for (const waiter of room.waiters) waiter.resolve()
    room.waiters = []
  }
}
