/**
 * One student's live connection to an event. On connect the socket enters the room (buffering
 * live chat), the participant is got or created, the history is read and sent in `joined`, and
 * the buffered messages after it follow. Each client message is handled with its own one-shot
 * queries or transaction: no database session is held across messages or while waiting for the
 * client. Answers are handled one at a time per socket (so a socket uses at most one connection,
 * and a repeated answer is judged after the first); chat goes to the event's ordered stream.
 * The socket is closed with 1008 ("access token expired") when the token it was opened with
 * expires: the token is checked once, at the upgrade, and must not keep the socket open forever.
 *
 * Each socket may send `perSecond` messages on average, in bursts of `burst` (a token bucket).
 * Beyond that a message is refused, not stored: the client is told once (RATE_LIMITED) and, if it
 * keeps sending at that pace (as many refused messages again as a burst, with the same refill),
 * the socket is closed with 1008 "rate limit exceeded".
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from 'pgsteward'
import type { RawData, WebSocket } from 'ws'
import type { AuthUser } from '../auth/authenticate.ts'
import { toErrorResponse } from '../http-errors.ts'
import type { ChatRelay } from './chat.ts'
import { joinParticipant, readJoinSnapshot, recordAnswer, toEventView, type EventDefinition, type Question } from './event-store.ts'
import { CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_POLICY_VIOLATION, type Hub } from './hub.ts'
import type { InflightWork } from './inflight.ts'
import type { LeaderboardPublisher } from './leaderboard.ts'
import type { LiveFeed } from './live-feed.ts'
import { parseClientMessage, type ClientMessage } from './messages.ts'
import { TokenBucket } from './token-bucket.ts'

export interface LiveDependencies {
  db: Database
  hub: Hub
  chat: ChatRelay
  feed: LiveFeed
  leaderboard: LeaderboardPublisher
  inflight: InflightWork
  rateLimit: { perSecond: number; burst: number }
}

/** Unfinished messages per socket before it stops being read (TCP backpressure on a flooding client). */
const PAUSE_READING_AT = 256
const RESUME_READING_AT = 64
/** setTimeout's longest delay; a later expiry is checked again when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Said in the close frame when the access token the socket was opened with expires. */
const TOKEN_EXPIRED_REASON = 'access token expired'
const RATE_LIMIT_REASON = 'rate limit exceeded'

interface LiveContext {
  user: AuthUser
  event: EventDefinition
  since: number | undefined
  /** When the access token the socket was opened with expires (ms since the epoch). */
  tokenExpiresAt: number
  log: FastifyBaseLogger
}

export function serveLiveConnection(deps: LiveDependencies, socket: WebSocket, context: LiveContext): void {
  new LiveConnection(deps, socket, context).start()
}

class LiveConnection {
  readonly #deps: LiveDependencies
  readonly #socket: WebSocket
  readonly #user: AuthUser
  readonly #event: EventDefinition
  readonly #questions: Map<string, Question>
  readonly #since: number | undefined
  readonly #log: FastifyBaseLogger
  #participantId: number | undefined
  /** Answers (and the join before them) run in arrival order, one at a time. */
  #sequence: Promise<void> = Promise.resolve()
  #unfinished = 0
  #readingPaused = false
  #attached = false
  readonly #tokenExpiresAt: number
  #expiryTimer: NodeJS.Timeout | undefined
  /** Messages this socket may send. */
  readonly #allowance: TokenBucket
  /** Refused messages it may still send before it is closed. */
  readonly #tolerance: TokenBucket
  /** The client was told it is being limited, and has not had a message accepted since. */
  #toldLimited = false

  constructor(deps: LiveDependencies, socket: WebSocket, context: LiveContext) {
    this.#deps = deps
    this.#socket = socket
    this.#user = context.user
    this.#event = context.event
    this.#questions = new Map(context.event.questions.map((q) => [q.id, q]))
    this.#since = context.since
    this.#log = context.log
    this.#tokenExpiresAt = context.tokenExpiresAt
    this.#allowance = new TokenBucket(deps.rateLimit.perSecond, deps.rateLimit.burst)
    this.#tolerance = new TokenBucket(deps.rateLimit.perSecond, deps.rateLimit.burst)
  }

  start(): void {
    // Listening starts now, synchronously: a message sent right after the upgrade is not lost.
    this.#socket.on('message', (data, isBinary) => this.#onFrame(data, isBinary))
    this.#attached = this.#deps.hub.attach(this.#socket, { eventId: this.#event.id, userId: this.#user.id, username: this.#user.username })
    if (!this.#attached) {
      this.#socket.close(CLOSE_GOING_AWAY, 'server shutting down')
      return
    }
    // The token was checked once, at the upgrade: the socket ends when the token does. The
    // client refreshes and reconnects with ?since=, which loses nothing.
    this.#socket.on('close', () => clearTimeout(this.#expiryTimer))
    this.#closeWhenTokenExpires()
    this.#inSequence(() => this.#join())
  }

  #closeWhenTokenExpires(): void {
    const remainingMs = this.#tokenExpiresAt - Date.now()
    if (remainingMs <= 0) {
      this.#deps.hub.close(this.#socket, CLOSE_POLICY_VIOLATION, TOKEN_EXPIRED_REASON)
      return
    }
    this.#expiryTimer = setTimeout(() => this.#closeWhenTokenExpires(), Math.min(remainingMs, MAX_TIMER_MS))
    this.#expiryTimer.unref()
  }

  async #join(): Promise<void> {
    const { db, hub, leaderboard, feed } = this.#deps
    try {
      const { participant, created } = await joinParticipant(db, this.#event.id, this.#user.id)
      // The room's feed knows where it stands before the history is read: what commits after
      // that reaches the room through the feed, what committed before is in the history.
      await feed.ready(this.#event.id)
      this.#participantId = participant.id
      // A new participant appears on the leaderboard (while it has fewer than 20 rows).
      if (created) leaderboard.schedule(this.#event.id)
      if (!hub.isAttached(this.#socket)) return
      // The socket is already in the room, buffering: whatever is committed after this read
      // starts reaches it live, so history + buffer has no gap.
      const snapshot = await readJoinSnapshot(db, this.#event.id, participant.id, this.#since)
      if (!hub.isAttached(this.#socket)) return
      const view = toEventView(this.#event)
      hub.send(this.#socket, {
        type: 'joined',
        event: { id: view.id, title: view.title, questions: view.questions },
        participant: snapshot.participant,
        answered: snapshot.answered,
        history: snapshot.history,
        historyTruncated: snapshot.historyTruncated,
        leaderboard: snapshot.leaderboard,
      })
      // Same turn as `joined`: nothing can be broadcast in between.
      const lastSeen = snapshot.history.at(-1)?.id ?? this.#since ?? 0
      const { missedLeaderboard } = hub.goLive(this.#socket, lastSeen)
      if (missedLeaderboard) leaderboard.schedule(this.#event.id)
    } catch (err) {
      this.#log.error({ err, eventId: this.#event.id }, 'joining a live event failed')
      this.#sendError(err)
      hub.close(this.#socket, CLOSE_INTERNAL_ERROR, 'join failed')
    }
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    // Refused at attach (shutting down), or closed: whatever it sends is ignored while it closes.
    if (!this.#attached || !this.#deps.hub.isAttached(this.#socket)) return
    if (!this.#withinRateLimit()) return
    if (isBinary) {
      this.#deps.hub.send(this.#socket, { type: 'error', code: 'INVALID_MESSAGE', message: 'Binary frames are not supported: send JSON text.' })
      return
    }
    const parsed = parseClientMessage(rawDataToString(data))
    if (!parsed.ok) {
      this.#deps.hub.send(this.#socket, { type: 'error', code: 'INVALID_MESSAGE', message: parsed.error })
      return
    }
    const message = parsed.message
    if (message.type === 'answer') this.#inSequence(() => this.#answer(message))
    else this.#chat(message)
  }

  #withinRateLimit(): boolean {
    if (this.#allowance.take()) {
      this.#toldLimited = false
      return true
    }
    if (!this.#tolerance.take()) {
      this.#log.warn({ userId: this.#user.id, eventId: this.#event.id }, 'closing a live socket that keeps exceeding its rate limit')
      this.#deps.hub.close(this.#socket, CLOSE_POLICY_VIOLATION, RATE_LIMIT_REASON)
      return false
    }
    if (!this.#toldLimited) {
      this.#toldLimited = true
      const { perSecond, burst } = this.#deps.rateLimit
      this.#deps.hub.send(this.#socket, {
        type: 'error',
        code: 'RATE_LIMITED',
        message: `Too many messages: at most ${perSecond} a second (bursts of ${burst}). Messages beyond that are dropped; keep it up and the connection is closed.`,
      })
    }
    return false
  }

  async #answer(message: Extract<ClientMessage, { type: 'answer' }>): Promise<void> {
    const { db, hub, leaderboard } = this.#deps
    if (this.#participantId === undefined) {
      hub.send(this.#socket, { type: 'error', code: 'NOT_JOINED', message: 'Not joined to the event: reconnect.' })
      return
    }
    const question = this.#questions.get(message.questionId)
    if (question === undefined) {
      hub.send(this.#socket, {
        type: 'error',
        code: 'INVALID_MESSAGE',
        message: `answer.questionId: no question ${JSON.stringify(message.questionId)} in this event.`,
      })
      return
    }
    const points = message.answer === question.answer ? question.points : 0
    try {
      const result = await recordAnswer(db, this.#participantId, question.id, message.answer, points)
      hub.send(this.#socket, {
        type: 'answered',
        questionId: question.id,
        accepted: result.accepted,
        points: result.accepted ? points : 0,
        score: result.score,
      })
      if (result.accepted && points !== 0) leaderboard.schedule(this.#event.id)
    } catch (err) {
      this.#log.error({ err, eventId: this.#event.id }, 'recording an answer failed')
      this.#sendError(err)
    }
  }

  #chat(message: Extract<ClientMessage, { type: 'chat' }>): void {
    this.#started()
    this.#deps.chat
      .post(this.#event.id, { userId: this.#user.id, username: this.#user.username, body: message.body })
      .catch((err: unknown) => {
        this.#log.error({ err, eventId: this.#event.id }, 'storing a chat message failed')
        this.#sendError(err)
      })
      .finally(() => this.#finished())
  }

  /** Queue `task` behind this socket's earlier ones; it handles its own errors. */
  #inSequence(task: () => Promise<void>): void {
    this.#started()
    this.#sequence = this.#sequence
      .then(task)
      .catch((err: unknown) => this.#log.error({ err, eventId: this.#event.id }, 'live message handling failed'))
      .finally(() => this.#finished())
    void this.#deps.inflight.track(this.#sequence)
  }

  #started(): void {
    this.#unfinished++
    if (!this.#readingPaused && this.#unfinished >= PAUSE_READING_AT) {
      this.#readingPaused = true
      this.#socket.pause()
    }
  }

  #finished(): void {
    this.#unfinished--
    if (this.#readingPaused && this.#unfinished <= RESUME_READING_AT) {
      this.#readingPaused = false
      this.#socket.resume()
    }
  }

  /** What the client may know about a failure: the HTTP mapping's message (busy, try again, ...). */
  #sendError(err: unknown): void {
    const { status, body } = toErrorResponse(err)
    this.#deps.hub.send(this.#socket, { type: 'error', code: status === 503 ? 'UNAVAILABLE' : status >= 500 ? 'INTERNAL' : body.error, message: body.message })
  }
}

function rawDataToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}
