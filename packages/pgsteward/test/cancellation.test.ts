import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { AbortedError, AmbiguousCommitError, ScopeTimeoutError, sql } from 'pgsteward'
import { collectUnhandledRejections, eventually, setup, sleep } from './support.ts'

const ctx = await setup('cancellation')
await ctx.admin(`
  CREATE TABLE storm (id int PRIMARY KEY, point text NOT NULL);
  CREATE TABLE commit_delay (id int);
  CREATE FUNCTION short_sleep_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.03); RETURN NULL; END $$;
  CREATE CONSTRAINT TRIGGER delay AFTER INSERT ON commit_delay DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION short_sleep_at_commit();
`)
const unhandled = collectUnhandledRejections()

type Point = 'before-begin' | 'mid-query' | 'during-commit' | 'between-queries'
const POINTS: Point[] = ['before-begin', 'mid-query', 'during-commit', 'between-queries']

describe('cancellation', () => {
  it('timeoutMs cancels the running query on the server and rolls back', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const started = performance.now()
    const err = await db
      .transaction(
        async (tx) => {
          await tx.query(sql`INSERT INTO storm VALUES (-1, 'timeout')`)
          await tx.query(sql`SELECT pg_sleep(30)`)
        },
        { timeoutMs: 100 },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    const took = performance.now() - started
    assert.ok(err instanceof ScopeTimeoutError, `got ${String(err)}`)
    assert.ok(err instanceof AbortedError)
    // Not before its timeout; and not after the 30 s statement, which only a cancel on the server could cut short.
    assert.ok(took >= 95, `rejected at its timeout, not before (${Math.round(took)} ms)`)
    await eventually(() => db.stats().idle === 1, 2_000, 'connection back clean')
    const [activity] = await ctx.activity(db.applicationName)
    assert.equal(activity?.state, 'idle', 'not idle in transaction, not still sleeping')
    assert.equal((await ctx.admin('SELECT 1 FROM storm WHERE id = -1')).length, 0, 'rolled back')
  })

  it('abort storm: 500 transactions aborted at random points leave nothing behind', async () => {
    const db = ctx.open({ pool: { max: 10, acquireTimeoutMs: 30_000 } })
    const lateness: number[] = []
    const outcomes = new Map<number, { point: Point; result: 'committed' | 'aborted' | 'ambiguous'; abortedFirst: boolean }>()
    const run = async (id: number): Promise<void> => {
      const point = POINTS[id % POINTS.length] as Point
      const controller = new AbortController()
      let abortedAt = 0
      const abort = (): void => {
        abortedAt = performance.now()
        controller.abort(new Error(`abort ${point}`))
      }
      if (point === 'before-begin') setTimeout(abort, Math.random() * 3)
      const work = db.transaction(
        async (tx) => {
          if (point === 'mid-query') setTimeout(abort, 5 + Math.random() * 20)
          await tx.query(sql`INSERT INTO storm VALUES (${id}, ${point})`)
          // Far longer than the test may take: only a real cancel (and a caller not kept waiting for it) lets the storm finish.
          if (point === 'mid-query') await tx.query(sql`SELECT pg_sleep(30)`)
          if (point === 'between-queries') {
            abort()
            await sleep(Math.random() * 5)
            await tx.query(sql`SELECT 1`)
          }
          if (point === 'during-commit') {
            await tx.query(sql`INSERT INTO commit_delay VALUES (${id})`)
            setTimeout(abort, 5 + Math.random() * 10)
          }
        },
        { signal: controller.signal, retry: { max: 0 } },
      )
      try {
        await work
        outcomes.set(id, { point, result: 'committed', abortedFirst: abortedAt > 0 })
      } catch (err) {
        if (err instanceof AmbiguousCommitError) outcomes.set(id, { point, result: 'ambiguous', abortedFirst: true })
        else {
          assert.ok(err instanceof AbortedError, `id ${id} (${point}) failed with ${String(err)}`)
          outcomes.set(id, { point, result: 'aborted', abortedFirst: true })
        }
      }
      if (abortedAt > 0) lateness.push(performance.now() - abortedAt)
    }
    // 500 transactions, 40 at a time against a pool of 10: some abort while queued for a connection.
    const ids = Array.from({ length: 500 }, (_, i) => i)
    await Promise.all(
      Array.from({ length: 40 }, async (_, lane) => {
        for (let i = lane; i < ids.length; i += 40) await run(i)
      }),
    )
    assert.equal(outcomes.size, 500)
    assert.equal(lateness.length, [...outcomes.values()].filter((o) => o.abortedFirst).length, 'every aborted caller settled')
    for (const point of POINTS) {
      // An abort during COMMIT cannot stop it: the caller learns the real outcome (committed) promptly.
      const expected = point === 'during-commit' ? 'committed' : 'aborted'
      assert.ok(
        [...outcomes.values()].some((o) => o.point === point && o.abortedFirst && o.result === expected),
        `some ${point} aborts ended ${expected}`,
      )
    }
    await eventually(() => db.stats().inUse === 0, 5_000, 'every connection returned')
    const stats = db.stats()
    assert.equal(stats.idle, stats.total)
    const activity = await ctx.activity(db.applicationName)
    assert.deepEqual(
      activity.filter((a) => a.state !== 'idle'),
      [],
      'nothing active or idle in transaction on the server',
    )
    // What the callers were told is what happened.
    const rows = new Set((await ctx.admin<{ id: number }>('SELECT id FROM storm WHERE id >= 0')).map((r) => r.id))
    for (const [id, o] of outcomes) {
      if (o.result === 'committed') assert.ok(rows.has(id), `committed ${id} is present`)
      if (o.result === 'aborted') assert.ok(!rows.has(id), `aborted ${id} (${o.point}) is absent`)
    }
    assert.deepEqual(unhandled, [])
  })

  it('work the callback starts after an abort gets the abort error, not a connection', async () => {
    const db = ctx.open({ pool: { max: 2 } })
    const controller = new AbortController()
    let later: Promise<unknown> | undefined
    const outcome = db.session(
      async (s) => {
        controller.abort(new Error('user left'))
        later = s.query(sql`SELECT 1`).catch((e: unknown) => e)
        await later
      },
      { signal: controller.signal },
    )
    await assert.rejects(outcome, (e: unknown) => e instanceof AbortedError && /user left/.test(e.message))
    const lateError = await later
    assert.ok(lateError instanceof AbortedError)
    await eventually(() => db.stats().idle === db.stats().total, 2_000, 'returned')
  })

  it('an already-aborted signal never takes a connection', async () => {
    const db = ctx.open({ pool: { max: 1 } })
    await assert.rejects(
      db.transaction(async () => 'x', { signal: AbortSignal.abort('gone') }),
      AbortedError,
    )
    assert.equal(db.stats().counters.acquired, 0)
  })
})
