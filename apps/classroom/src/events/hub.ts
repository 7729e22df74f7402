/**
 * The live hub: rooms per event and the sockets in them. Every change to its state is
 * synchronous (no await between reading and writing), so concurrent connects, disconnects and
 * reconnects cannot interleave inside an update and no lock is needed, hence none to hold while
 * sending. Sending never waits for a client: a socket whose unsent data exceeds the bound is
 * closed with 1013 instead, and the others are served as usual.
 */
import { WebSocket } from 'ws'
import type { FastifyBaseLogger } from 'fastify'
import type { ChatMessageView, LeaderboardEntry, ServerMessage } from './messages.ts'
import { Room, type Member } from './room.ts'

export const CLOSE_GOING_AWAY = 1001
export const CLOSE_POLICY_VIOLATION = 1008
export const CLOSE_INTERNAL_ERROR = 1011
export const CLOSE_TRY_AGAIN_LATER = 1013

export interface HubOptions {
  /** Unsent bytes a socket may have queued before it is closed as too slow. */
  maxBufferedBytes: number
  /** Ping period; a socket that did not answer the previous ping is dropped. */
  heartbeatMs: number
  /** How long a socket closed as too slow may take to read what was queued and the close, before it is cut. */
  closeGraceMs: number
  /** The same at shutdown, shorter: every socket still open holds `app.close()` up. */
  shutdownGraceMs: number
  log: FastifyBaseLogger
}

/** Chat messages buffered for a socket whose history is still being read; beyond it the client is told to come back. */
const MAX_CATCH_UP_MESSAGES = 1_000

export const DEFAULT_HUB_OPTIONS = {
  maxBufferedBytes: 1024 * 1024,
  heartbeatMs: 30_000,
  closeGraceMs: 5_000,
  shutdownGraceMs: 2_000,
} as const

interface Attachment {
  member: Member
  /** A pong arrived since the last ping. */
  alive: boolean
  /** Cuts the socket if the closing handshake does not finish in time. */
  closeTimer: NodeJS.Timeout | undefined
}

export class Hub {
  readonly #options: HubOptions
  readonly #rooms = new Map<number, Room>()
  readonly #attachments = new Map<WebSocket, Attachment>()
  readonly #heartbeat: NodeJS.Timeout
  readonly #roomClosedListeners: ((eventId: number) => void)[] = []
  #shuttingDown = false

  constructor(options: HubOptions) {
    this.#options = options
    this.#heartbeat = setInterval(() => this.#checkHeartbeats(), options.heartbeatMs)
    this.#heartbeat.unref()
  }

  /**
   * Put a freshly connected socket in its event's room, catching up (buffering) until `goLive`.
   * False when the hub is shutting down or the socket is no longer open: the caller closes it.
   * The socket leaves the room by itself when it closes.
   */
  attach(socket: WebSocket, who: { eventId: number; userId: number; username: string }): boolean {
    if (this.#shuttingDown || socket.readyState !== WebSocket.OPEN || this.#attachments.has(socket)) return false
    const member: Member = { socket, ...who, catchUp: [], missedLeaderboard: false, lastChatId: 0 }
    let room = this.#rooms.get(who.eventId)
    if (room === undefined) {
      room = new Room(who.eventId)
      this.#rooms.set(who.eventId, room)
    }
    room.add(member)
    this.#attachments.set(socket, { member, alive: true, closeTimer: undefined })
    socket.on('close', () => this.#detach(socket))
    socket.on('pong', () => {
      const attachment = this.#attachments.get(socket)
      if (attachment) attachment.alive = true
    })
    return true
  }

  isAttached(socket: WebSocket): boolean {
    return this.#attachments.has(socket)
  }

  /**
   * The member's history was sent: deliver the chat messages buffered meanwhile that are newer
   * than it (`afterChatId`, the last id the history held), in order, and from now on send live.
   * Returns whether a leaderboard went by meanwhile, so the caller can have a fresh one sent.
   */
  goLive(socket: WebSocket, afterChatId: number): { missedLeaderboard: boolean } {
    const attachment = this.#attachments.get(socket)
    if (attachment === undefined) return { missedLeaderboard: false }
    const { member } = attachment
    const buffered = member.catchUp ?? []
    member.catchUp = null
    member.lastChatId = Math.max(member.lastChatId, afterChatId)
    for (const message of buffered) {
      if (message.id <= member.lastChatId) continue
      member.lastChatId = message.id
      this.send(socket, { type: 'chat', message })
    }
    const missedLeaderboard = member.missedLeaderboard
    member.missedLeaderboard = false
    return { missedLeaderboard }
  }

  publishChat(eventId: number, message: ChatMessageView): void {
    const room = this.#rooms.get(eventId)
    if (room === undefined) return
    const data = encode({ type: 'chat', message })
    for (const member of room.snapshot()) {
      if (member.catchUp === null) {
        // Already in its history, or sent: each message reaches a socket once, in id order.
        if (message.id <= member.lastChatId) continue
        member.lastChatId = message.id
        this.#sendData(member.socket, data)
      } else if (member.catchUp.length < MAX_CATCH_UP_MESSAGES) member.catchUp.push(message)
      // Its join is stuck (a slow database): rather than buffer without bound, let it reconnect
      // with ?since=, which loses nothing.
      else this.close(member.socket, CLOSE_TRY_AGAIN_LATER, 'too slow')
    }
  }

  publishLeaderboard(eventId: number, leaderboard: LeaderboardEntry[]): void {
    const room = this.#rooms.get(eventId)
    if (room === undefined) return
    const data = encode({ type: 'leaderboard', leaderboard })
    for (const member of room.snapshot()) {
      if (member.catchUp !== null) member.missedLeaderboard = true
      else this.#sendData(member.socket, data)
    }
  }

  /** Send to one socket; false if it is not open or was just closed as too slow. */
  send(socket: WebSocket, message: ServerMessage): boolean {
    return this.#sendData(socket, encode(message))
  }

  /** Close a socket and take it out of its room now, cutting it if the handshake stalls. */
  close(socket: WebSocket, code: number, reason: string, graceMs = this.#options.closeGraceMs): void {
    const attachment = this.#attachments.get(socket)
    this.#removeFromRoom(socket)
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(code, reason)
    if (attachment !== undefined && attachment.closeTimer === undefined) {
      attachment.closeTimer = setTimeout(() => socket.terminate(), graceMs)
      attachment.closeTimer.unref()
    }
  }

  /** `listener` is called when the last socket of a room left it (the room is gone). */
  onRoomClosed(listener: (eventId: number) => void): void {
    this.#roomClosedListeners.push(listener)
  }

  hasRoom(eventId: number): boolean {
    return this.#rooms.has(eventId)
  }

  roomSize(eventId: number): number {
    return this.#rooms.get(eventId)?.size ?? 0
  }

  get roomCount(): number {
    return this.#rooms.size
  }

  /** Sockets still open or closing. */
  get socketCount(): number {
    return this.#attachments.size
  }

  /** Refuse new sockets and close every one with 1001; stragglers are cut after the grace period. */
  shutdown(): void {
    this.#shuttingDown = true
    clearInterval(this.#heartbeat)
    for (const socket of [...this.#attachments.keys()]) this.close(socket, CLOSE_GOING_AWAY, 'server shutting down', this.#options.shutdownGraceMs)
  }

  #sendData(socket: WebSocket, data: Buffer): boolean {
    if (socket.readyState !== WebSocket.OPEN) return false
    if (socket.bufferedAmount > this.#options.maxBufferedBytes) {
      const userId = this.#attachments.get(socket)?.member.userId
      this.#options.log.warn({ userId, bufferedBytes: socket.bufferedAmount }, 'closing a live socket that stopped reading')
      this.close(socket, CLOSE_TRY_AGAIN_LATER, 'too slow')
      return false
    }
    socket.send(data, { binary: false })
    return true
  }

  #removeFromRoom(socket: WebSocket): void {
    const member = this.#attachments.get(socket)?.member
    if (member === undefined) return
    const room = this.#rooms.get(member.eventId)
    if (room === undefined) return
    room.remove(socket)
    if (room.size === 0) {
      this.#rooms.delete(member.eventId)
      for (const listener of this.#roomClosedListeners) listener(member.eventId)
    }
  }

  #detach(socket: WebSocket): void {
    this.#removeFromRoom(socket)
    const attachment = this.#attachments.get(socket)
    if (attachment === undefined) return
    clearTimeout(attachment.closeTimer)
    this.#attachments.delete(socket)
  }

  #checkHeartbeats(): void {
    for (const [socket, attachment] of [...this.#attachments]) {
      if (socket.readyState !== WebSocket.OPEN) continue
      if (!attachment.alive) {
        // No pong for a whole period: the peer is gone without closing (half-open TCP).
        socket.terminate()
        continue
      }
      attachment.alive = false
      socket.ping()
    }
  }
}

/**
 * A server message as UTF-8 bytes, encoded once per broadcast rather than once per socket. Sent
 * as a Buffer, it makes `bufferedAmount` count bytes: queued strings count characters, which let
 * a slow client hold several times the intended bound.
 */
function encode(message: ServerMessage): Buffer {
  return Buffer.from(JSON.stringify(message))
}
