import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startService } from './support.ts'

const service = await startService()

interface EventBody {
  id: number
  teacherId: number
  title: string
  questions: { id: string; points: number }[]
  leaderboard?: { participantId: number; userId: number; username: string; score: number }[]
}

interface ErrorBody {
  error: string
  message: string
  field?: string | null
}

const QUESTIONS = [
  { id: 'q1', answer: 'b', points: 10 },
  { id: 'q2', answer: 'paris', points: 5 },
]

async function createEvent(token: string, title = 'Quiz'): Promise<EventBody> {
  const res = await service.request('POST', '/events', { token, body: { title, questions: QUESTIONS } })
  assert.equal(res.status, 201, JSON.stringify(res.body))
  return res.body as EventBody
}

describe('events over HTTP', () => {
  it('creates an event and shows it without answers; answers are stored', async () => {
    const teacher = await service.login('teacher-create', ['teachers'])
    const created = await createEvent(teacher.token, 'Capitals')
    assert.equal(created.title, 'Capitals')
    assert.equal(created.teacherId, teacher.userId)
    assert.deepEqual(created.questions, [
      { id: 'q1', points: 10 },
      { id: 'q2', points: 5 },
    ])
    assert.doesNotMatch(JSON.stringify(created), /paris|answer/)

    const student = await service.login('student-get')
    const shown = await service.request('GET', `/events/${created.id}`, { token: student.token })
    assert.equal(shown.status, 200)
    const body = shown.body as EventBody
    assert.deepEqual(body.questions, created.questions)
    assert.deepEqual(body.leaderboard, [])
    assert.doesNotMatch(JSON.stringify(body), /paris|answer/)

    const rows = await service.sql<{ teacher_id: string; questions: unknown }>('SELECT teacher_id, questions FROM events WHERE id = $1', [created.id])
    assert.equal(Number(rows[0]?.teacher_id), teacher.userId)
    assert.deepEqual(rows[0]?.questions, QUESTIONS)
  })

  it('rejects bad bodies with 400 naming the field, writing nothing', async () => {
    const { token } = await service.login('teacher-invalid', ['teachers'])
    const cases: { body: unknown; field: string }[] = [
      { body: { questions: [] }, field: 'title' },
      { body: { title: '', questions: [] }, field: 'title' },
      { body: { title: 'x' }, field: 'questions' },
      { body: { title: 'x', questions: [{ id: 'q1', answer: 'a', points: -1 }] }, field: 'questions.0.points' },
      { body: { title: 'x', questions: [{ id: 'q1', answer: 'a', points: 1.5 }] }, field: 'questions.0.points' },
      { body: { title: 'x', questions: [{ id: '', answer: 'a', points: 1 }] }, field: 'questions.0.id' },
      {
        body: {
          title: 'x',
          questions: [
            { id: 'q1', answer: 'a', points: 1 },
            { id: 'q1', answer: 'b', points: 2 },
          ],
        },
        field: 'questions.1.id',
      },
    ]
    for (const { body, field } of cases) {
      const res = await service.request('POST', '/events', { token, body })
      assert.equal(res.status, 400, `${JSON.stringify(body)} -> ${res.status}`)
      const error = res.body as ErrorBody
      assert.equal(error.field, field, `${JSON.stringify(body)}: ${error.message}`)
      assert.match(error.message, new RegExp(field.replaceAll('.', '\\.')))
    }
    assert.equal((await service.sql("SELECT 1 FROM events WHERE title = 'x'")).length, 0)
  })

  it('requires a user: 401 without or with a bad token, even with a bad body', async () => {
    for (const token of [undefined, 'not-a-jwt']) {
      const create = await service.request('POST', '/events', { token, body: { nonsense: true } })
      assert.equal(create.status, 401)
      const show = await service.request('GET', '/events/1', { token })
      assert.equal(show.status, 401)
    }
  })

  it('lets only members of the teachers group create events: 403 for others, whatever the body', async () => {
    const student = await service.login('student-not-teacher', ['class-7b'])
    for (const body of [{ title: 'Not mine to make', questions: QUESTIONS }, { nonsense: true }]) {
      const res = await service.request('POST', '/events', { token: student.token, body })
      assert.equal(res.status, 403, JSON.stringify(res.body))
      assert.equal((res.body as ErrorBody).error, 'FORBIDDEN')
      assert.match((res.body as ErrorBody).message, /"teachers" group/)
    }
    assert.equal((await service.sql("SELECT 1 FROM events WHERE title = 'Not mine to make'")).length, 0)
    // Membership is as of the last login: joining the group makes the next request a teacher's.
    const promoted = await service.login('student-not-teacher', ['class-7b', 'teachers'])
    assert.equal((await service.request('POST', '/events', { token: promoted.token, body: { title: 'Now mine', questions: QUESTIONS } })).status, 201)
  })

  it('answers 404 for an unknown event and 400 for an id that is not one', async () => {
    const { token } = await service.login('student-404')
    const missing = await service.request('GET', '/events/999999', { token })
    assert.equal(missing.status, 404)
    assert.equal((missing.body as ErrorBody).error, 'NOT_FOUND')
    const bad = await service.request('GET', '/events/abc', { token })
    assert.equal(bad.status, 400)
  })

  it('the grader adds points with the service token only; concurrent additions all count', async () => {
    const teacher = await service.login('teacher-scores', ['teachers'])
    const event = await createEvent(teacher.token)
    const student = await service.login('student-scores')
    const route = `/events/${event.id}/scores`

    const none = await service.request('POST', route, { body: { userId: student.userId, points: 5 } })
    assert.equal(none.status, 401)
    const wrong = await service.request('POST', route, { body: { userId: student.userId, points: 5 }, headers: { authorization: `Service ${'0'.repeat(64)}` } })
    assert.equal(wrong.status, 401)
    const asUser = await service.request('POST', route, { token: student.token, body: { userId: student.userId, points: 5 } })
    assert.equal(asUser.status, 401, 'a user token is not a service token')
    const badAndUnauthenticated = await service.request('POST', route, { body: { nope: 1 } })
    assert.equal(badAndUnauthenticated.status, 401)
    assert.equal((await service.sql('SELECT 1 FROM participants WHERE event_id = $1', [event.id])).length, 0, 'rejected calls changed nothing')

    const headers = { authorization: service.serviceAuth }
    const unknownEvent = await service.request('POST', '/events/999999/scores', { headers, body: { userId: student.userId, points: 5 } })
    assert.equal(unknownEvent.status, 404)
    assert.match((unknownEvent.body as ErrorBody).message, /event/)
    const unknownUser = await service.request('POST', route, { headers, body: { userId: 999999, points: 5 } })
    assert.equal(unknownUser.status, 404)
    assert.match((unknownUser.body as ErrorBody).message, /user/)
    const badBody = await service.request('POST', route, { headers, body: { userId: student.userId, points: 'many' } })
    assert.equal(badBody.status, 400)
    assert.equal((badBody.body as ErrorBody).field, 'points')

    // The first calls race to create the participant; every addition must count exactly once.
    const results = await Promise.all(
      Array.from({ length: 20 }, () => service.request('POST', route, { headers, body: { userId: student.userId, points: 5 } })),
    )
    assert.deepEqual([...new Set(results.map((r) => r.status))], [200])
    const correction = await service.request('POST', route, { headers, body: { userId: student.userId, points: -3 } })
    assert.equal(correction.status, 200)
    assert.equal((correction.body as { participant: { score: number } }).participant.score, 97)

    const rows = await service.sql<{ user_id: string; score: number }>('SELECT user_id, score FROM participants WHERE event_id = $1', [event.id])
    assert.deepEqual(
      rows.map((r) => ({ userId: Number(r.user_id), score: r.score })),
      [{ userId: student.userId, score: 97 }],
    )

    const shown = await service.request('GET', `/events/${event.id}`, { token: student.token })
    assert.deepEqual(
      (shown.body as EventBody).leaderboard?.map((e) => ({ userId: e.userId, username: e.username, score: e.score })),
      [{ userId: student.userId, username: 'student-scores', score: 97 }],
    )
  })

  it('the leaderboard is the top 20 by score, ties by who joined first', async () => {
    const teacher = await service.login('teacher-top', ['teachers'])
    const event = await createEvent(teacher.token)
    const headers = { authorization: service.serviceAuth }
    const students = []
    for (let i = 0; i < 25; i++) students.push(await service.login(`top-student-${i}`))
    // Sequential, so participant ids follow i; scores repeat so ties are decided by id.
    for (const [i, s] of students.entries()) {
      const res = await service.request('POST', `/events/${event.id}/scores`, { headers, body: { userId: s.userId, points: (i % 5) * 10 } })
      assert.equal(res.status, 200)
    }
    const shown = await service.request('GET', `/events/${event.id}`, { token: teacher.token })
    const board = (shown.body as EventBody).leaderboard ?? []
    const expected = await service.sql<{ user_id: string; score: number }>(
      'SELECT user_id, score FROM participants WHERE event_id = $1 ORDER BY score DESC, id ASC LIMIT 20',
      [event.id],
    )
    assert.equal(board.length, 20)
    assert.deepEqual(
      board.map((e) => [e.userId, e.score]),
      expected.map((r) => [Number(r.user_id), r.score]),
    )
    assert.equal(board[0]?.score, 40)
    assert.equal(board[0]?.userId, students[4]?.userId, 'among equal scores the earliest participant first')
  })
})
