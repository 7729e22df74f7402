/**
 * Each scenario's invariant check, fed a known-bad state, must report it (a checker that cannot
 * fail proves nothing), and fed a good state, must report nothing.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { createTestDatabase, withClient } from '@pgsteward/testkit'
import { Recorder } from '../src/recorder.ts'
import type { Scenario, ScenarioContext } from '../src/scenario.ts'
import sharedSession from '../src/scenarios/01-shared-session.ts'
import nestedAcquire from '../src/scenarios/02-nested-acquire.ts'
import abortedRequests from '../src/scenarios/03-aborted-requests.ts'
import lostUpdate from '../src/scenarios/04-lost-update.ts'
import firstLogins from '../src/scenarios/05-first-logins.ts'
import identicalUploads from '../src/scenarios/06-identical-uploads.ts'
import filesAndRows from '../src/scenarios/07-files-and-rows.ts'
import poolExhaustion from '../src/scenarios/08-pool-exhaustion.ts'
import restartAndTerminate, {
  BACKOFF_STEP_MS,
  measureRestart,
  type FaultCycle,
  type RequestRecord,
  type RestartOutcome,
} from '../src/scenarios/09-restart-and-terminate.ts'
import lyingHealthCheck from '../src/scenarios/10-lying-health-check.ts'
import websocketHub, { type HubOutcome } from '../src/scenarios/11-websocket-hub.ts'
import lateMisconfiguration from '../src/scenarios/12-late-misconfiguration.ts'
import failoverUnderLoad, { measureFailover, type WriteRecord } from '../src/scenarios/13-failover-under-load.ts'
import poolerPreparedStatements from '../src/scenarios/14-pooler-prepared-statements.ts'

const scratch = await mkdtemp(path.join(os.tmpdir(), 'lab-checks-'))
after(() => rm(scratch, { recursive: true, force: true }))

/** A fresh database with the scenario's schema, and a context pointing at it. */
async function contextFor<O>(scenario: Scenario<O>, variant: 'naive' | 'pgsteward' = 'naive'): Promise<ScenarioContext> {
  const url = await createTestDatabase(`check_${scenario.id}`)
  const ctx: ScenarioContext = {
    variant,
    users: 5,
    quick: true,
    databaseUrl: url,
    applicationName: `lab-check-${scenario.id}`,
    dir: await mkdtemp(path.join(scratch, `s${scenario.id}-`)),
    recorder: new Recorder(),
    server: undefined,
    admin: <T>(text: string, values?: unknown[]) => withClient(url, async (c) => (await c.query(text, values)).rows as T[]),
    note: () => undefined,
    onCleanup: () => undefined,
  }
  if (scenario.setup) await withClient(url, (c) => scenario.setup?.(ctx, c) ?? Promise.resolve())
  return ctx
}

describe('race lab invariant checks report known-bad states', () => {
  it('1 shared session: partial and ghost requests', async () => {
    const ctx = await contextFor(sharedSession)
    await ctx.admin(`INSERT INTO ledger VALUES (1, 'a'), (1, 'b'), (2, 'a'), (3, 'a')`)
    assert.deepEqual(await sharedSession.check(ctx, new Map([[1, true]])), [])
    const found = await sharedSession.check(
      ctx,
      new Map([
        [1, true],
        [2, true],
        [3, false],
        [4, true],
      ]),
    )
    assert.equal(found.length, 3, found.join('; '))
  })

  it('2 nested acquire: failed requests and audits outside the transaction', async () => {
    const ctx = await contextFor(nestedAcquire)
    await ctx.admin('UPDATE account SET balance = 1 WHERE id IN (0, 1, 2, 3, 4)')
    await ctx.admin('INSERT INTO audit (account) SELECT g FROM generate_series(0, 4) g')
    assert.deepEqual(await nestedAcquire.check(ctx, { succeeded: 5 }), [])
    await ctx.admin('INSERT INTO audit (account) VALUES (9)')
    assert.equal((await nestedAcquire.check(ctx, { succeeded: 3 })).length, 3)
  })

  it('3 aborted requests: a connection idle in transaction and a committed aborted order', async () => {
    const ctx = await contextFor(abortedRequests)
    await ctx.admin('INSERT INTO orders VALUES (1), (2)')
    assert.deepEqual(
      await abortedRequests.check(
        ctx,
        new Map([
          [1, true],
          [2, true],
        ]),
      ),
      [],
    )
    const dirty = new pg.Client({ connectionString: ctx.databaseUrl, application_name: ctx.applicationName })
    await dirty.connect()
    try {
      await dirty.query('BEGIN')
      await dirty.query('SELECT 1')
      const found = await abortedRequests.check(
        ctx,
        new Map([
          [1, false],
          [2, true],
          [3, true],
        ]),
      )
      assert.ok(
        found.some((f) => /idle in transaction/.test(f)),
        found.join('; '),
      )
      assert.ok(found.some((f) => /committed anyway/.test(f)))
      assert.ok(found.some((f) => /have no order/.test(f)))
    } finally {
      await dirty.end()
    }
  })

  it('4 lost update: fewer edits than acknowledged', async () => {
    const ctx = await contextFor(lostUpdate)
    await ctx.admin('UPDATE project SET edits = 5')
    assert.deepEqual(await lostUpdate.check(ctx, { succeeded: 5 }), [])
    assert.match((await lostUpdate.check(ctx, { succeeded: 7 }))[0] ?? '', /2 of 7 acknowledged edits were lost/)
  })

  it('5 first logins: duplicate users, failed logins, wrong ids', async () => {
    const ctx = await contextFor(firstLogins)
    await ctx.admin('ALTER TABLE users DROP CONSTRAINT users_username_key')
    await ctx.admin(`INSERT INTO users (id, username) VALUES (1, 'user-0'), (2, 'user-0'), (3, 'user-1')`)
    const found = await firstLogins.check(
      ctx,
      new Map<number, number | null>([
        [0, 1],
        [1, null],
        [10, 1],
      ]),
    )
    assert.equal(found.length, 3, found.join('; '))
  })

  it('6 identical uploads: duplicate rows, failed uploads, files out of step', async () => {
    const ctx = await contextFor(identicalUploads)
    const contents = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three'), Buffer.from('four')]
    const { createHash } = await import('node:crypto')
    const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex')
    await ctx.admin('ALTER TABLE assets DROP CONSTRAINT assets_md5_content_type_key')
    for (const [i, c] of contents.entries())
      await ctx.admin(`INSERT INTO assets (id, md5, content_type, size) VALUES ($1, $2, 'image/png', 3)`, [i + 1, md5(c)])
    for (const c of contents) await writeFile(path.join(ctx.dir, `${md5(c)}.image_png`), c)
    const ids = new Map<number, number | null>([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
    ])
    assert.deepEqual(await identicalUploads.check(ctx, { ids, filesDir: ctx.dir, contents }), [])
    await ctx.admin(`INSERT INTO assets (id, md5, content_type, size) VALUES (9, $1, 'image/png', 3)`, [md5(contents[0] as Buffer)])
    await writeFile(path.join(ctx.dir, 'orphan.image_png'), 'x')
    const found = await identicalUploads.check(ctx, { ids: new Map([...ids, [4, null]]), filesDir: ctx.dir, contents })
    assert.ok(
      found.some((f) => /has 2 rows/.test(f)),
      found.join('; '),
    )
    assert.ok(found.some((f) => /failed/.test(f)))
    assert.ok(found.some((f) => /no row references/.test(f)))
  })

  it('7 files and rows: orphan files and rows naming missing files', async () => {
    const ctx = await contextFor(filesAndRows)
    await writeFile(path.join(ctx.dir, 'kept.txt'), 'x')
    assert.deepEqual(await filesAndRows.check(ctx, { filesDir: ctx.dir, referenced: async () => ['kept.txt'] }), [])
    await writeFile(path.join(ctx.dir, 'orphan.txt'), 'x')
    const found = await filesAndRows.check(ctx, { filesDir: ctx.dir, referenced: async () => ['kept.txt', 'missing.txt'] })
    assert.equal(found.length, 2, found.join('; '))
  })

  it('8 pool exhaustion: too many server connections, requests hung until the timeout, failures', async () => {
    const ctx = await contextFor(poolExhaustion)
    assert.deepEqual(await poolExhaustion.check(ctx, { peakServerConnections: 15, slowest: 500, users: 300, failed: 0, hung: 0 }), [])
    const found = await poolExhaustion.check(ctx, { peakServerConnections: 16, slowest: 5_010, users: 300, failed: 2, hung: 290 })
    assert.equal(found.length, 3, found.join('; '))
    assert.ok(
      found.some((f) => /290 of 300 request\(s\) hung until the 5 s pool timeout/.test(f)),
      found.join('; '),
    )
  })

  it('9 restart and terminate: errors for work not yet started, no recovery, back later than naive', async () => {
    const ctx = await contextFor(restartAndTerminate)
    const cycle: FaultCycle = { loadFrom: 0, terminate: { from: 1_000, to: 1_020 }, shutdown: { from: 2_000, to: 2_100 }, acceptingAt: 5_100, until: 6_000 }
    /** Each user succeeding every 10 ms (1 ms each) from `from` to `to`. */
    const steady = (from: number, to: number): RequestRecord[] =>
      [0, 1].flatMap((user) =>
        Array.from({ length: Math.floor((to - from) / 10) }, (_, k) => ({ user, start: from + k * 10, end: from + k * 10 + 1, ok: true })),
      )
    const failed = (start: number, end: number, kind: string): RequestRecord => ({ user: 0, start, end, ok: false, kind })
    const recovered = (after: number): RestartOutcome => ({
      users: 2,
      cycles: [cycle],
      requests: [
        ...steady(0, 2_000),
        // In flight when the terminate and the shutdown hit: allowed.
        failed(1_010, 1_015, '57P01'),
        failed(1_990, 2_050, '57P01'),
        // Waited through the outage, served once the server was back.
        { user: 0, start: 2_200, end: 5_100 + after, ok: true },
        { user: 1, start: 2_300, end: 5_100 + after + 1, ok: true },
        ...steady(5_100 + after + 10, 6_000),
      ],
    })
    const good = recovered(50)
    assert.deepEqual(await restartAndTerminate.check(ctx, good), [])
    const [figures] = measureRestart(good)
    assert.equal(figures?.inFlightErrors, 2)
    assert.equal(figures?.firstSuccessMs, 50)
    assert.equal(figures?.medianUserFirstSuccessMs, 50)
    assert.equal(figures?.servedBetweenTerminateAndRestart, 200)
    assert.equal(figures?.fewestPerWindowAfterTerminate, 20)
    assert.ok(figures?.fullThroughputMs !== undefined && figures.fullThroughputMs <= 200, String(figures?.fullThroughputMs))

    const broken: RestartOutcome = {
      users: 2,
      cycles: [cycle],
      requests: [
        ...steady(0, 1_000),
        failed(1_500, 1_501, '57P01'),
        failed(2_200, 2_201, 'ECONNREFUSED'),
        failed(2_300, 2_301, 'ECONNREFUSED'),
        failed(5_200, 5_201, '57P01'),
      ],
    }
    const found = await restartAndTerminate.check(ctx, broken)
    assert.ok(
      found.some((f) => /4 error\(s\) surfaced to callers for work not yet started: 1 after the terminate, 2 during the outage, 1 after the restart/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /no request succeeded within 10 s after the server came back/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /nothing succeeded between pg_terminate_backend and the restart/.test(f)),
      found.join('; '),
    )
    assert.equal(found.length, 3, found.join('; '))

    const compare = (naive: RestartOutcome, pgsteward: RestartOutcome): string[] =>
      restartAndTerminate.compare?.(naive, pgsteward, () => undefined) ?? ['no comparison']
    assert.deepEqual(compare(good, recovered(50 + BACKOFF_STEP_MS)), [])
    const late = compare(good, recovered(400))
    assert.equal(late.length, 2, late.join('; '))
    assert.match(
      late[0] ?? '',
      /first success after the restart came 400 ms after the server accepted connections again, later than naive pg.Pool's 50 ms plus one backoff step/,
    )
  })

  it("10 health: 'ok' while down, not ok after recovery", async () => {
    const ctx = await contextFor(lyingHealthCheck)
    assert.deepEqual(
      await lyingHealthCheck.check(ctx, [
        { databaseUp: true, reported: 'ok' },
        { databaseUp: false, reported: 'down' },
        { databaseUp: true, reported: 'ok' },
      ]),
      [],
    )
    const found = await lyingHealthCheck.check(ctx, [
      { databaseUp: false, reported: 'ok' },
      { databaseUp: true, reported: 'down' },
    ])
    assert.equal(found.length, 2, found.join('; '))
  })

  it('11 WebSocket hub: membership off, duplicate participants, missing and held deliveries, a slow client never cut off', async () => {
    const ctx = await contextFor(websocketHub)
    const [event] = await ctx.admin<{ id: number }>(`INSERT INTO events (title) VALUES ('quiz') RETURNING id`)
    const eventId = event?.id ?? 0
    await ctx.admin('INSERT INTO participants (event_id, user_id) SELECT $1, g FROM generate_series(1, 4) g', [eventId])
    const reader = { missing: 0, late: 0, heldUntilSlowRead: 0, slowestMs: 120 }
    const good: HubOutcome = {
      eventId,
      userIds: [1, 2, 3, 4],
      openSockets: 4,
      hubMembers: 4,
      messages: 100,
      readers: [reader, reader, reader],
      slow: { received: 60, receivedBytes: 5_000_000, closeCode: 1013 },
      kernelBufferBytes: 4_000_000,
      closedTooSlow: 1,
      cutWithoutClose: 0,
    }
    assert.deepEqual(await websocketHub.check(ctx, good), [])
    // Left behind without being cut off, within the bound: not waited for.
    assert.deepEqual(await websocketHub.check(ctx, { ...good, slow: { received: 50, receivedBytes: 4_500_000, closeCode: null } }), [])

    await ctx.admin('INSERT INTO participants (event_id, user_id) VALUES ($1, 2), ($1, 9)', [eventId])
    await ctx.admin('DELETE FROM participants WHERE user_id = 4')
    const found = await websocketHub.check(ctx, {
      ...good,
      hubMembers: 2,
      readers: [reader, { missing: 40, late: 0, heldUntilSlowRead: 0, slowestMs: 300 }, { missing: 0, late: 30, heldUntilSlowRead: 30, slowestMs: 4_100 }],
      slow: { received: 100, receivedBytes: 8_000_000, closeCode: null },
      closedTooSlow: 0,
    })
    assert.ok(
      found.some((f) => /hub counts 2 member\(s\) in the room for 4 open socket/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /1 of 4 users have more than one participant row/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /1 of 4 users have no participant row/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /1 participant row\(s\) belong to users that never connected/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /40 of 300 deliveries to reading clients never arrived/.test(f)),
      found.join('; '),
    )
    // Late deliveries alone are a figure (a loaded machine makes them late too), not a violation.
    assert.ok(!found.some((f) => /took longer than/.test(f)), found.join('; '))
    assert.ok(
      found.some((f) => /only once the slow client read again/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /never cut off/.test(f)),
      found.join('; '),
    )
    assert.equal(found.length, 7, found.join('; '))
  })

  it('12 misconfiguration: a broken configuration accepted at start', async () => {
    const ctx = await contextFor(lateMisconfiguration)
    assert.deepEqual(await lateMisconfiguration.check(ctx, { refusedAtStart: true, servedWithBrokenConfig: false, message: 'refused' }), [])
    assert.equal((await lateMisconfiguration.check(ctx, { refusedAtStart: false, servedWithBrokenConfig: true, message: 'first request failed' })).length, 1)
  })

  it('13 failover: errors for writes not yet started, nothing written after the promotion, acknowledged writes lost', async () => {
    const ctx = await contextFor(failoverUnderLoad)
    const failover = { from: 1_000, primaryDown: 1_030, promoted: 1_200, until: 2_000 }
    const write = (seq: number, start: number, end: number, ok: boolean, kind?: string): WriteRecord => ({
      user: 0,
      seq,
      start,
      end,
      ok,
      ...(kind ? { kind } : {}),
    })
    const good = [write(0, 0, 5, true), write(1, 990, 1_020, false, '57P01'), write(2, 1_100, 1_250, true), write(3, 1_300, 1_305, true)]
    const rows = async (): Promise<{ user_id: number; seq: number }[]> => [0, 2, 3].map((seq) => ({ user_id: 0, seq }))
    assert.deepEqual(await failoverUnderLoad.check(ctx, { requests: good, failover, rowsOnNewPrimary: rows }), [])
    assert.equal(measureFailover({ requests: good, failover }).inFlightErrors, 1)
    assert.equal(measureFailover({ requests: good, failover }).firstWriteAfterPromotionMs, 50)
    const broken = [write(0, 0, 5, true), write(1, 1_100, 1_101, false, 'ECONNREFUSED'), write(2, 1_300, 1_301, false, 'ECONNREFUSED')]
    const found = await failoverUnderLoad.check(ctx, { requests: broken, failover, rowsOnNewPrimary: async () => [] })
    assert.ok(
      found.some((f) => /2 error\(s\) surfaced to callers for work not yet started: 1 during the promotion, 1 after it \(2 ECONNREFUSED\)/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /no write succeeded after the standby was promoted/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /1 acknowledged write\(s\) are not on the new primary/.test(f)),
      found.join('; '),
    )
    assert.equal(found.length, 3, found.join('; '))
  })

  it('14 pooler: prepared-statement errors and counters that disagree with acknowledged increments', async () => {
    const ctx = await contextFor(poolerPreparedStatements)
    await ctx.admin('UPDATE item SET hits = 1 WHERE id IN (1, 2)')
    assert.deepEqual(await poolerPreparedStatements.check(ctx, { operations: 4, succeeded: 4, increments: 2, errors: {}, pgbouncer: 'PgBouncer 1.18.0' }), [])
    const found = await poolerPreparedStatements.check(ctx, {
      operations: 10,
      succeeded: 5,
      increments: 3,
      errors: { '42P05': 4, '26000': 1 },
      pgbouncer: 'PgBouncer 1.18.0',
    })
    assert.ok(
      found.some((f) => /5 of 10 operations failed: 4 × 42P05 prepared statement already exists, 1 × 26000 prepared statement does not exist/.test(f)),
      found.join('; '),
    )
    assert.ok(
      found.some((f) => /the items count 2 hits for 3 acknowledged increments/.test(f)),
      found.join('; '),
    )
  })
})
