/**
 * Live events:
 * - POST /events creates an event with its questions (members of TEACHER_GROUP only, else 403);
 * - GET /events/:id shows it (never the answers) with its leaderboard;
 * - POST /events/:id/scores (a grader, `Authorization: Service`) adds points to a student;
 * - GET /events/:id/live is the students' WebSocket: join, answer, chat (protocol in messages.ts);
 *   a plain GET (no Upgrade) is answered 426 in JSON like every other error.
 * Authentication runs before the body is read or validated, so an unauthenticated request is a
 * 401 whatever its body. The creating POSTs take an Idempotency-Key.
 *
 * What reaches the live sockets is read from committed rows (chat messages after the last one
 * the room was sent, a leaderboard read after the change): the database is the source of truth,
 * and several instances on one database serve the same live events. Triggers NOTIFY which room
 * changed; each instance reads what it has not yet seen (live-feed.ts).
 */
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ForeignKeyViolationError } from 'pgsteward'
import type { AuthUser } from '../auth/authenticate.ts'
import type { AppContext } from '../context.ts'
import { isMember } from '../auth/identity.ts'
import { fingerprintOf, idempotencyKey, once, sendStored } from '../http/idempotency.ts'
import { Text } from '../http/schemas.ts'
import { HttpError, conflict, forbidden, notFound, unauthorized } from '../http-errors.ts'
import { ChatRelay } from './chat.ts'
import { addPoints, createEvent, findEvent, readLeaderboard, toEventView, type EventDefinition } from './event-store.ts'
import { DEFAULT_HUB_OPTIONS, Hub } from './hub.ts'
import { InflightWork } from './inflight.ts'
import { LeaderboardPublisher } from './leaderboard.ts'
import { LiveFeed, type NotificationSource } from './live-feed.ts'
import { serveLiveConnection } from './live.ts'

/** Leaderboard broadcasts per room at most this often. */
const LEADERBOARD_INTERVAL_MS = 50
/** How long shutdown waits for database work the live module started. */
const SHUTDOWN_WAIT_MS = 5_000

const EventParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) })

const QuestionBody = Type.Object(
  {
    id: Text({ minLength: 1, maxLength: 64 }),
    answer: Text({ maxLength: 1_000 }),
    points: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
)

const CreateEventBody = Type.Object(
  {
    title: Text({ minLength: 1, maxLength: 200 }),
    questions: Type.Array(QuestionBody, { maxItems: 500 }),
  },
  { additionalProperties: false },
)

const ScoreBody = Type.Object(
  {
    userId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    // Negative points are a grader's correction.
    points: Type.Integer({ minimum: -1_000_000, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
)

const LiveQuery = Type.Object({
  token: Type.String({ minLength: 1 }),
  /** The last chat message id the client saw (resume after a reconnect). */
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
})

/** Each app's hub, for tests and diagnostics (room sizes). */
const hubs = new WeakMap<AppContext, Hub>()

export function eventHub(ctx: AppContext): Hub | undefined {
  return hubs.get(ctx)
}

/** The access token travels in the query string (browsers cannot set WebSocket headers): keep it out of logs. */
function withoutToken(url: string): string {
  return url.replace(/([?&]token=)[^&]*/, '$1[redacted]')
}

/** `notifications`: where every instance's changes are heard (`db` itself: pgsteward's `db.listen`). */
export function eventRoutes(ctx: AppContext, notifications: NotificationSource) {
  return async (plainApp: FastifyInstance): Promise<void> => {
    const app = plainApp.withTypeProvider<TypeBoxTypeProvider>()
    const { db } = ctx
    const inflight = new InflightWork()
    const hub = new Hub({ ...DEFAULT_HUB_OPTIONS, log: app.log })
    const leaderboard = new LeaderboardPublisher({ db, hub, inflight, log: app.log, intervalMs: LEADERBOARD_INTERVAL_MS })
    const feed = new LiveFeed({ db, hub, leaderboard, inflight, log: app.log })
    await feed.listen(notifications)
    const chat = new ChatRelay({ db, feed, inflight })
    const rateLimit = { perSecond: ctx.config.liveMessagesPerSecond, burst: ctx.config.liveMessageBurst }
    hubs.set(ctx, hub)

    // Authenticated users and loaded events per request, from the hooks to the handler.
    const users = new WeakMap<FastifyRequest, AuthUser>()
    const liveEvents = new WeakMap<FastifyRequest, EventDefinition>()
    const liveTokenExpiry = new WeakMap<FastifyRequest, number>()
    const requireUser = async (request: FastifyRequest): Promise<void> => {
      users.set(request, await ctx.auth.user(request))
    }
    // Authorisation before validation too: a student's request is a 403 whatever its body.
    const requireTeacher = async (request: FastifyRequest): Promise<void> => {
      const user = await ctx.auth.user(request)
      if (!(await isMember(db, user.id, ctx.config.teacherGroup))) {
        throw forbidden(`Only members of the ${JSON.stringify(ctx.config.teacherGroup)} group create events: log in with it among your groups.`)
      }
      users.set(request, user)
    }
    const userOf = (request: FastifyRequest): AuthUser => {
      const user = users.get(request)
      if (user === undefined) throw unauthorized()
      return user
    }

    app.post('/events', { schema: { body: CreateEventBody }, onRequest: requireTeacher }, async (request, reply) => {
      const { title, questions } = request.body
      const seen = new Set<string>()
      for (const [index, question] of questions.entries()) {
        if (seen.has(question.id)) {
          const field = `questions.${index}.id`
          throw new HttpError(400, 'INVALID_REQUEST', `body.${field} repeats question id ${JSON.stringify(question.id)}`, { field })
        }
        seen.add(question.id)
      }
      const user = userOf(request)
      const response = await db.transaction((tx) =>
        once(tx, { principal: `user:${user.id}`, key: idempotencyKey(request), fingerprint: fingerprintOf(request) }, async () => {
          const event = await createEvent(db, user.id, title, questions)
          return { status: 201, body: toEventView(event), headers: { location: `/events/${event.id}` } }
        }),
      )
      return sendStored(reply, response)
    })

    app.get('/events/:id', { schema: { params: EventParams }, onRequest: requireUser }, async (request) => {
      const event = await findEvent(db, request.params.id)
      if (event === null) throw notFound('event')
      return { ...toEventView(event), leaderboard: await readLeaderboard(db, event.id), online: hub.roomSize(event.id) }
    })

    app.post(
      '/events/:id/scores',
      {
        schema: { params: EventParams, body: ScoreBody },
        onRequest: async (request) => ctx.auth.service(request),
      },
      async (request, reply) => {
        const eventId = request.params.id
        try {
          const response = await db.transaction((tx) =>
            once(tx, { principal: 'service', key: idempotencyKey(request), fingerprint: fingerprintOf(request) }, async () => {
              const participant = await addPoints(db, eventId, request.body.userId, request.body.points)
              if (participant === null) throw conflict('The score would go beyond what it can hold (-2147483648 to 2147483647): nothing was added.')
              return { status: 200, body: { participant }, headers: {} }
            }),
          )
          leaderboard.schedule(eventId)
          return sendStored(reply, response)
        } catch (err) {
          if (err instanceof ForeignKeyViolationError) throw notFound(err.constraint === 'participants_user_id_fkey' ? 'user' : 'event')
          throw err
        }
      },
    )

    app.route({
      method: 'GET',
      url: '/events/:id/live',
      schema: { params: EventParams, querystring: LiveQuery },
      // A plain GET: this route speaks WebSocket only. Answered before anything else is looked at.
      onRequest: async (request) => {
        if (!request.ws) {
          throw new HttpError(
            426,
            'UPGRADE_REQUIRED',
            'This is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket) and ?token=<access token>.',
          )
        }
      },
      handler: async () => {
        throw new HttpError(426, 'UPGRADE_REQUIRED', 'This is a WebSocket endpoint: connect with a WebSocket client.')
      },
      logSerializers: {
        req: (request: FastifyRequest) => ({ method: request.method, url: withoutToken(request.url), remoteAddress: request.ip }),
      },
      // Before the upgrade: a bad token is a 401 and an unknown event a 404, as plain HTTP.
      preValidation: async (request) => {
        const token = (request.query as { token?: unknown }).token
        if (typeof token !== 'string' || token === '') throw unauthorized('Pass the access token as ?token= (browsers cannot set WebSocket headers).')
        const { user, expiresAt } = await ctx.auth.accessToken(token)
        users.set(request, user)
        liveTokenExpiry.set(request, expiresAt)
      },
      preHandler: async (request) => {
        const event = await findEvent(db, request.params.id)
        if (event === null) throw notFound('event')
        liveEvents.set(request, event)
      },
      wsHandler: (socket, request) => {
        const event = liveEvents.get(request)
        const user = users.get(request)
        const tokenExpiresAt = liveTokenExpiry.get(request)
        if (event === undefined || user === undefined || tokenExpiresAt === undefined) {
          socket.close(1008, 'not authenticated')
          return
        }
        serveLiveConnection({ db, hub, chat, feed, leaderboard, inflight, rateLimit }, socket, {
          user,
          event,
          since: request.query.since,
          tokenExpiresAt,
          log: request.log,
        })
      },
    })

    // Shutdown happens in preClose, not onClose: onClose hooks run only after the HTTP server
    // closed, and it waits for these sockets. Refuses new sockets, closes the open ones with 1001
    // and cuts those that do not finish the handshake in time (a stalled client would otherwise
    // hold app.close() for ws's 30 s). app.ts leaves socket closing to this hook.
    app.addHook('preClose', (done) => {
      hub.shutdown()
      done()
    })
    app.addHook('onClose', async () => {
      hub.shutdown() // in case the server closed without its preClose hooks (never listening)
      leaderboard.stop()
      await feed.stop()
      // The database is closed after the app: let the work already started finish first.
      if (!(await inflight.settled(SHUTDOWN_WAIT_MS))) app.log.warn({ pending: inflight.size }, 'live event work still running at shutdown')
    })
  }
}
