/**
 * One event's connected sockets. A socket is a member from the moment it connects (so nothing
 * broadcast meanwhile is missed) but is "catching up" until its history was sent: chat messages
 * are buffered for it and leaderboards noted, then flushed in order when it goes live.
 */
import type { WebSocket } from 'ws'
import type { ChatMessageView } from './messages.ts'

export interface Member {
  readonly socket: WebSocket
  readonly eventId: number
  readonly userId: number
  readonly username: string
  /** Chat messages broadcast while the member's history was being read; null once live. */
  catchUp: ChatMessageView[] | null
  /** A leaderboard was broadcast while the member was catching up. */
  missedLeaderboard: boolean
  /**
   * The last chat id this member was sent (in its history or live): a message the database feed
   * hands over again, or one the history already held, is not sent twice.
   */
  lastChatId: number
}

/** Plain bookkeeping, all synchronous: callers never await between reading and changing it. */
export class Room {
  readonly eventId: number
  // Keyed by socket, not user: a student connected twice (reconnect before the old socket
  // closed) is two members, and closing one leaves the other.
  readonly #members = new Map<WebSocket, Member>()

  constructor(eventId: number) {
    this.eventId = eventId
  }

  add(member: Member): void {
    this.#members.set(member.socket, member)
  }

  remove(socket: WebSocket): boolean {
    return this.#members.delete(socket)
  }

  get size(): number {
    return this.#members.size
  }

  /** A copy: sending may close a slow socket, which removes it from the room mid-iteration. */
  snapshot(): Member[] {
    return [...this.#members.values()]
  }
}
