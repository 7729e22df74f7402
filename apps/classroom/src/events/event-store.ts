/**
 * Every SQL statement of the events module. Each function is one statement, one transaction or a
 * race-free helper; none holds a connection beyond its own return. Ids are bigint in the
 * database (strings from the driver) and safe integers in the API.
 */
import { getOrCreate, sql, type Database } from 'pgsteward'
import type { ChatMessageView, LeaderboardEntry, ParticipantView, QuestionView } from './messages.ts'

export const LEADERBOARD_SIZE = 20

export interface Question {
  id: string
  answer: string
  points: number
}

/** An event as the server knows it, answers included: never sent to clients as is. */
export interface EventDefinition {
  id: number
  teacherId: number
  title: string
  questions: Question[]
  createdAt: string
}

/** What clients may see of an event. */
export interface EventView {
  id: number
  teacherId: number
  title: string
  questions: QuestionView[]
  createdAt: string
}

export function toEventView(event: EventDefinition): EventView {
  return { ...event, questions: event.questions.map(({ id, points }) => ({ id, points })) }
}

interface EventRow {
  id: string
  teacher_id: string
  title: string
  questions: Question[]
  created_at: Date
}

const toEvent = (row: EventRow): EventDefinition => ({
  id: Number(row.id),
  teacherId: Number(row.teacher_id),
  title: row.title,
  questions: row.questions,
  createdAt: row.created_at.toISOString(),
})

export async function createEvent(db: Database, teacherId: number, title: string, questions: Question[]): Promise<EventDefinition> {
  // Only the three known keys are stored, whatever else the body carried.
  const stored = questions.map(({ id, answer, points }) => ({ id, answer, points }))
  const row = await db.one<EventRow>(sql`INSERT INTO events (teacher_id, title, questions)
    VALUES (${teacherId}, ${title}, ${JSON.stringify(stored)}::jsonb)
    RETURNING id, teacher_id, title, questions, created_at`)
  return toEvent(row)
}

export async function findEvent(db: Database, eventId: number): Promise<EventDefinition | null> {
  const row = await db.maybeOne<EventRow>(sql`SELECT id, teacher_id, title, questions, created_at FROM events WHERE id = ${eventId}`)
  return row === null ? null : toEvent(row)
}

interface ParticipantRow {
  id: string
  user_id: string
  score: number
}

const toParticipant = (row: ParticipantRow): ParticipantView => ({ id: Number(row.id), userId: Number(row.user_id), score: row.score })

/** The student's participant row in the event, created on first join; one row whatever the concurrency. */
export async function joinParticipant(db: Database, eventId: number, userId: number): Promise<{ participant: ParticipantView; created: boolean }> {
  const { row, created } = await getOrCreate<ParticipantRow>(db, {
    table: 'participants',
    key: { event_id: eventId, user_id: userId },
    returning: ['id', 'user_id', 'score'],
  })
  return { participant: toParticipant(row), created }
}

/** The score column is an int4: a change that would take it beyond holds is refused, not attempted. */
const SCORE_MIN = -2_147_483_648
const SCORE_MAX = 2_147_483_647

/**
 * Add points for a user (a grader's call), creating the participant if needed. One statement:
 * the upsert takes the row lock, so concurrent additions all count. Null when the score would
 * leave the range its column holds (nothing changed).
 */
export async function addPoints(db: Database, eventId: number, userId: number, points: number): Promise<ParticipantView | null> {
  const row = await db.maybeOne<ParticipantRow>(sql`INSERT INTO participants (event_id, user_id, score) VALUES (${eventId}, ${userId}, ${points})
    ON CONFLICT (event_id, user_id) DO UPDATE SET score = participants.score + EXCLUDED.score
    WHERE participants.score::bigint + EXCLUDED.score BETWEEN ${SCORE_MIN} AND ${SCORE_MAX}
    RETURNING id, user_id, score`)
  return row === null ? null : toParticipant(row)
}

/**
 * Record an answer once per (participant, question): the primary key decides, so a repeated or
 * concurrent second answer changes nothing. Points are added only by the insert that happened.
 */
export async function recordAnswer(
  db: Database,
  participantId: number,
  questionId: string,
  answer: string,
  points: number,
): Promise<{ accepted: boolean; score: number }> {
  return db.transaction(async (tx) => {
    const inserted = await tx.maybeOne(sql`INSERT INTO answers (participant_id, question_id, answer, points)
      VALUES (${participantId}, ${questionId}, ${answer}, ${points})
      ON CONFLICT (participant_id, question_id) DO NOTHING RETURNING points`)
    if (inserted === null) {
      const current = await tx.one<{ score: number }>(sql`SELECT score FROM participants WHERE id = ${participantId}`)
      return { accepted: false, score: current.score }
    }
    // Points beyond what the score column holds are capped: the answer still counts as given.
    const updated = await tx.one<{ score: number }>(sql`UPDATE participants
      SET score = LEAST(GREATEST(score::bigint + ${points}, ${SCORE_MIN}), ${SCORE_MAX})::integer
      WHERE id = ${participantId} RETURNING score`)
    return { accepted: true, score: updated.score }
  })
}

interface LeaderboardRow {
  participant_id: string
  user_id: string
  username: string
  score: number
}

/** Top participants by score, ties by participant id (who joined first). */
export async function readLeaderboard(db: Database, eventId: number): Promise<LeaderboardEntry[]> {
  const { rows } = await db.query<LeaderboardRow>(sql`SELECT p.id AS participant_id, p.user_id, u.username, p.score
    FROM participants p JOIN users u ON u.id = p.user_id
    WHERE p.event_id = ${eventId}
    ORDER BY p.score DESC, p.id ASC
    LIMIT ${LEADERBOARD_SIZE}`)
  return rows.map((r) => ({ participantId: Number(r.participant_id), userId: Number(r.user_id), username: r.username, score: r.score }))
}

interface ChatRow {
  id: string
  user_id: string
  username: string
  body: string
  created_at: Date
}

const toChat = (row: ChatRow): ChatMessageView => ({
  id: Number(row.id),
  userId: Number(row.user_id),
  username: row.username,
  body: row.body,
  createdAt: row.created_at.toISOString(),
})

export interface NewChatMessage {
  userId: number
  username: string
  body: string
}

/**
 * Store messages in the given order. The ids come from the sequence as the sorted rows are
 * inserted, so they follow the input order; the result is in id order. The event's row is locked
 * (FOR NO KEY UPDATE: foreign-key checks of other writers are not held up) before the ids are
 * drawn and until the commit, so one event's messages commit in id order across every instance:
 * a reader that saw message n of an event has seen every message of it before n. The trigger of
 * migration 0003 announces them on commit. An event that is gone stores nothing (a foreign-key
 * error, as before).
 */
export async function insertChatMessages(db: Database, eventId: number, messages: readonly NewChatMessage[]): Promise<ChatMessageView[]> {
  const usernames = new Map(messages.map((m) => [m.userId, m.username]))
  const rows = await db.transaction(async (tx) => {
    await tx.query(sql`SELECT 1 FROM events WHERE id = ${eventId} FOR NO KEY UPDATE`)
    const inserted = await tx.query<Omit<ChatRow, 'username'>>(sql`INSERT INTO chat_messages (event_id, user_id, body)
      SELECT ${eventId}, m.user_id, m.body
      FROM unnest(${messages.map((m) => m.userId)}::bigint[], ${messages.map((m) => m.body)}::text[]) WITH ORDINALITY AS m(user_id, body, position)
      ORDER BY m.position
      RETURNING id, user_id, body, created_at`)
    return inserted.rows
  })
  return rows.map((r) => toChat({ ...r, username: usernames.get(Number(r.user_id)) ?? '' })).sort((a, b) => a.id - b.id)
}

/** The event's newest chat id (0: none yet). */
export async function lastChatId(db: Database, eventId: number): Promise<number> {
  const row = await db.one<{ id: string | null }>(sql`SELECT max(id) AS id FROM chat_messages WHERE event_id = ${eventId}`)
  return row.id === null ? 0 : Number(row.id)
}

/** The event's chat messages after `afterId`, oldest first, at most `limit`. */
export async function readChatAfter(db: Database, eventId: number, afterId: number, limit: number): Promise<ChatMessageView[]> {
  const { rows } = await db.query<ChatRow>(sql`SELECT c.id, c.user_id, u.username, c.body, c.created_at
    FROM chat_messages c JOIN users u ON u.id = c.user_id
    WHERE c.event_id = ${eventId} AND c.id > ${afterId}
    ORDER BY c.id
    LIMIT ${limit}`)
  return rows.map(toChat)
}

export const HISTORY_LIMIT = 100
export const RESUME_LIMIT = 1_000

export interface JoinSnapshot {
  participant: ParticipantView
  answered: string[]
  history: ChatMessageView[]
  historyTruncated: boolean
  leaderboard: LeaderboardEntry[]
}

/**
 * What a joining student is sent, read from one snapshot (repeatable read, so the history, the
 * score and the leaderboard agree with each other). `since`: the last chat id the client saw.
 */
export async function readJoinSnapshot(db: Database, eventId: number, participantId: number, since: number | undefined): Promise<JoinSnapshot> {
  return db.transaction(
    async (tx) => {
      const limit = since === undefined ? HISTORY_LIMIT : RESUME_LIMIT
      const after = since ?? 0
      // Newest first with one extra row, to know whether older ones were left out.
      const { rows: chatRows } = await tx.query<ChatRow>(sql`SELECT c.id, c.user_id, u.username, c.body, c.created_at
        FROM chat_messages c JOIN users u ON u.id = c.user_id
        WHERE c.event_id = ${eventId} AND c.id > ${after}
        ORDER BY c.id DESC
        LIMIT ${limit + 1}`)
      const historyTruncated = chatRows.length > limit
      const history = chatRows.slice(0, limit).reverse().map(toChat)
      const participant = toParticipant(await tx.one<ParticipantRow>(sql`SELECT id, user_id, score FROM participants WHERE id = ${participantId}`))
      const { rows: answeredRows } = await tx.query<{ question_id: string }>(
        sql`SELECT question_id FROM answers WHERE participant_id = ${participantId} ORDER BY question_id`,
      )
      // db.query inside the callback runs in this transaction: same snapshot.
      const leaderboard = await readLeaderboard(db, eventId)
      return { participant, answered: answeredRows.map((r) => r.question_id), history, historyTruncated, leaderboard }
    },
    { isolation: 'repeatable read', readOnly: true },
  )
}
