/**
 * The live protocol of GET /events/:id/live, both directions. Client messages are JSON text
 * frames validated against these schemas; anything else is answered with an `error` message and
 * the socket stays open. Server messages are typed here so every sender builds the same shapes.
 * Close codes: 1001 server shutting down, 1008 access token expired (refresh, then reconnect with
 * ?since= the last chat id seen: nothing is lost) or rate limit exceeded (the reason says which),
 * 1011 join failed, 1013 too slow to read.
 */
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

export const MAX_CHAT_BODY_CHARS = 500

/** Text a column can store: everything but NUL. */
const NO_NUL = '^[^\\u0000]*$'

export const AnswerMessage = Type.Object(
  {
    type: Type.Literal('answer'),
    questionId: Type.String({ minLength: 1, maxLength: 64, pattern: NO_NUL }),
    answer: Type.String({ maxLength: 1_000, pattern: NO_NUL }),
  },
  { additionalProperties: false },
)

export const ChatMessage = Type.Object(
  {
    type: Type.Literal('chat'),
    body: Type.String({ minLength: 1, maxLength: MAX_CHAT_BODY_CHARS, pattern: NO_NUL }),
  },
  { additionalProperties: false },
)

export const ClientMessage = Type.Union([AnswerMessage, ChatMessage])
export type ClientMessage = Static<typeof ClientMessage>

// Compiled once: every incoming frame is checked against it.
const answerCheck = TypeCompiler.Compile(AnswerMessage)
const chatCheck = TypeCompiler.Compile(ChatMessage)

/**
 * Parse and validate one text frame. The error names the offending field, checked against the
 * schema its `type` selects, so a bad chat body is reported as such rather than as "no union
 * member matched".
 */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; error: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, error: 'Messages must be JSON text, e.g. {"type":"chat","body":"hi"}.' }
  }
  const type = typeof value === 'object' && value !== null && 'type' in value ? value.type : undefined
  if (type !== 'answer' && type !== 'chat') return { ok: false, error: 'Unknown message type: `type` must be "answer" or "chat".' }
  const check = type === 'answer' ? answerCheck : chatCheck
  if (check.Check(value)) return { ok: true, message: value }
  const first = check.Errors(value).First()
  const field = first?.path.replace(/^\//, '').replaceAll('/', '.') ?? ''
  return { ok: false, error: `${type}${field ? `.${field}` : ''}: ${first?.message ?? 'is invalid'}` }
}

export interface ChatMessageView {
  id: number
  userId: number
  username: string
  body: string
  /** ISO 8601. */
  createdAt: string
}

export interface LeaderboardEntry {
  participantId: number
  userId: number
  username: string
  score: number
}

export interface ParticipantView {
  id: number
  userId: number
  score: number
}

export interface QuestionView {
  id: string
  points: number
}

export type ServerMessage =
  | {
      type: 'joined'
      event: { id: number; title: string; questions: QuestionView[] }
      participant: ParticipantView
      /** Ids of the questions this participant has already answered. */
      answered: string[]
      /** Chat messages in id order: after `since` when given, else the latest ones. */
      history: ChatMessageView[]
      /** True when older messages than the first in `history` were left out (more than the limit). */
      historyTruncated: boolean
      leaderboard: LeaderboardEntry[]
    }
  | { type: 'chat'; message: ChatMessageView }
  | { type: 'leaderboard'; leaderboard: LeaderboardEntry[] }
  | {
      type: 'answered'
      questionId: string
      /** False when the question had already been answered: nothing changed. */
      accepted: boolean
      /** Points awarded by this answer (0 when wrong or not accepted). */
      points: number
      score: number
    }
  | {
      type: 'error'
      /** INVALID_MESSAGE, RATE_LIMITED, NOT_JOINED, UNAVAILABLE (retry), INTERNAL. */
      code: string
      message: string
    }
