/**
 * LISTEN/NOTIFY: delivery and order, several handlers and channels, quoting, typed payload
 * errors, misuse, and a listener that comes back after pg_terminate_backend and a server
 * restart, telling its callers (onGap) that notifications may have been missed.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { startEmbeddedServer } from '@pgsteward/testkit'
import { createDatabase, DatabaseError, MisuseError, NotificationPayloadError, PoolClosedError, sql, type Database } from 'pgsteward'
import { collectUnhandledRejections, eventually, setup } from './support.ts'

const ctx = await setup('listen_notify')
const unhandled = collectUnhandledRejections()

/** Collects what a handler receives. */
function inbox(): { payloads: string[]; handler: (payload: string) => void } {
  const payloads: string[] = []
  return { payloads, handler: (payload) => payloads.push(payload) }
}

/** The listening connection's backend, as the listenerConnect event names it. */
function trackListenerPid(db: Database): { pid: () => number | undefined; connects: () => number } {
  let pid: number | undefined
  let connects = 0
  db.on('listenerConnect', ({ processId }) => {
    pid = processId
    connects++
  })
  return { pid: () => pid, connects: () => connects }
}

describe('db.listen and db.notify', () => {
  it('delivers every notification sent after listen resolved, in commit order', async () => {
    const db = ctx.open()
    const box = inbox()
    const unlisten = await db.listen('jobs', box.handler)
    // Sent by a different connection from the pool, each its own commit, straight after listen resolved.
    for (let i = 0; i < 50; i++) await db.notify('jobs', `job-${i}`)
    // And by plain SQL from outside pgsteward.
    await ctx.admin(`SELECT pg_notify('jobs', 'from-admin')`)
    await eventually(() => box.payloads.length === 51, 10_000, '51 notifications')
    assert.deepEqual(box.payloads, [...Array.from({ length: 50 }, (_, i) => `job-${i}`), 'from-admin'])
    await unlisten()
  })

  it('a notification without a payload arrives as an empty string', async () => {
    const db = ctx.open()
    const box = inbox()
    await db.listen('empty', box.handler)
    await db.notify('empty')
    await eventually(() => box.payloads.length === 1, 10_000, 'one notification')
    assert.deepEqual(box.payloads, [''])
  })

  it('several handlers on one channel and several channels share one connection; unlisten of one keeps the others', async () => {
    const db = ctx.open()
    const a1 = inbox()
    const a2 = inbox()
    const b = inbox()
    const tracker = trackListenerPid(db)
    const stopA1 = await db.listen('chan_a', a1.handler)
    const stopA2 = await db.listen('chan_a', a2.handler)
    const stopB = await db.listen('chan_b', b.handler)
    assert.equal(tracker.connects(), 1, 'one listening connection for every listen')
    await db.notify('chan_a', '1')
    await db.notify('chan_b', 'b1')
    await eventually(() => a1.payloads.length === 1 && a2.payloads.length === 1 && b.payloads.length === 1, 10_000, 'first round')

    await stopA1()
    await stopA1() // idempotent
    await db.notify('chan_a', '2')
    await db.notify('chan_b', 'b2')
    await eventually(() => a2.payloads.length === 2 && b.payloads.length === 2, 10_000, 'second round')
    assert.deepEqual(a1.payloads, ['1'], 'the removed handler hears nothing more')
    assert.deepEqual(a2.payloads, ['1', '2'])

    await stopA2()
    // chan_a is UNLISTENed now: a notification on it, then one on chan_b; once chan_b's arrives
    // (notifications reach a listener in commit order), chan_a's would have arrived before it.
    await db.notify('chan_a', '3')
    await db.notify('chan_b', 'b3')
    await eventually(() => b.payloads.length === 3, 10_000, 'third round')
    assert.deepEqual(a2.payloads, ['1', '2'])
    const listening = await ctx.admin<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1`, [tracker.pid()])
    assert.equal(listening[0]?.n, 1, 'the connection stays while chan_b is listened to')
    await stopB()
  })

  it('quotes channel names: case, spaces, quotes, semicolons and non-ASCII reach exactly their own listeners', async () => {
    const db = ctx.open()
    const names = ['Mixed Case', 'mixed case', 'with "double" quotes', "single'quote; select 1 --", 'ключ 🔑', 'a.b', '$1', 'x'.repeat(63)]
    const boxes = new Map(names.map((n) => [n, inbox()]))
    for (const name of names) await db.listen(name, (boxes.get(name) as ReturnType<typeof inbox>).handler)
    for (const name of names) await db.notify(name, `to ${name}`)
    await eventually(() => names.every((n) => boxes.get(n)?.payloads.length === 1), 10_000, 'one notification per channel')
    for (const name of names) assert.deepEqual(boxes.get(name)?.payloads, [`to ${name}`], name)
  })

  it('inside a transaction, notify is delivered at commit and not at all on rollback', async () => {
    const db = ctx.open()
    const box = inbox()
    await db.listen('tx_channel', box.handler)
    await db
      .transaction(async (tx) => {
        await tx.notify('tx_channel', 'rolled back')
        throw new Error('roll back')
      })
      .catch(() => undefined)
    await db.transaction(async (tx) => {
      await tx.notify('tx_channel', 'first')
      await db.notify('tx_channel', 'second') // db.notify inside the callback joins the transaction
    })
    await eventually(() => box.payloads.length === 2, 10_000, 'two notifications')
    assert.deepEqual(box.payloads, ['first', 'second'])
  })

  it('a payload over 7,999 bytes is a typed error: refused before sending by notify, mapped from the server for raw SQL', async () => {
    const db = ctx.open()
    const box = inbox()
    await db.listen('big', box.handler)
    const tooLong = await db.notify('big', 'x'.repeat(8_000)).catch((e: unknown) => e)
    assert.ok(tooLong instanceof NotificationPayloadError, String(tooLong))
    assert.equal(tooLong.code, 'NOTIFICATION_PAYLOAD_TOO_LARGE')
    assert.equal(tooLong.bytes, 8_000)
    assert.match(tooLong.message, /8,000 bytes exceeds PostgreSQL's limit of 7,999 bytes.*Send an id/)
    // Multi-byte characters count in bytes: 2,667 × 3 bytes.
    const wide = await db.notify('big', '€'.repeat(2_667)).catch((e: unknown) => e)
    assert.ok(wide instanceof NotificationPayloadError && wide.bytes === 8_001, String(wide))

    // Refused before sending, a transaction is not failed by it.
    await db.transaction(async (tx) => {
      await assert.rejects(tx.notify('big', 'y'.repeat(10_000)), NotificationPayloadError)
      await tx.notify('big', 'still fine')
    })

    // Exactly at the limit it goes through.
    await db.notify('big', 'z'.repeat(7_999))
    await eventually(() => box.payloads.length === 2, 10_000, 'two notifications')
    assert.deepEqual(
      box.payloads.map((p) => p.length),
      ['still fine'.length, 7_999],
    )

    // pg_notify in one's own SQL: the server's 22023 "payload string too long", typed the same way.
    const raw = await db.query(sql`SELECT pg_notify('big', repeat('x', 8000))`).catch((e: unknown) => e)
    assert.ok(raw instanceof NotificationPayloadError, String(raw))
    assert.equal(raw.bytes, undefined)
    assert.ok(raw.cause instanceof DatabaseError && raw.cause.sqlState === '22023', String(raw.cause))
    // Other 22023 errors stay what they are.
    const other = await db.query(sql`SELECT pg_notify('', 'x')`).catch((e: unknown) => e)
    assert.ok(other instanceof DatabaseError && other.sqlState === '22023', String(other))
  })

  it('misuse is refused with an error naming the fix', async () => {
    const db = ctx.open()
    const handler = (): void => undefined
    await assert.rejects(db.listen('', handler), (e: unknown) => e instanceof MisuseError && /non-empty string/.test(e.message))
    await assert.rejects(db.listen(42 as unknown as string, handler), MisuseError)
    await assert.rejects(
      db.listen('c', undefined as unknown as () => void),
      (e: unknown) => e instanceof MisuseError && /handler must be a function/.test(e.message),
    )
    await assert.rejects(db.listen('c', handler, { onGap: 'x' as unknown as () => void }), /onGap must be a function/)
    await assert.rejects(db.listen('c', handler, { onGapp: () => undefined } as never), /unknown option onGapp/)
    await assert.rejects(db.listen('x'.repeat(64), handler), (e: unknown) => e instanceof MisuseError && /at most 63 bytes/.test(e.message))
    await assert.rejects(db.listen('a\0b', handler), /NUL/)
    await assert.rejects(db.notify('', 'x'), MisuseError)
    await assert.rejects(db.notify('c', 42 as unknown as string), (e: unknown) => e instanceof MisuseError && /payload must be a string/.test(e.message))
    // None of it opened a listening connection.
    assert.deepEqual((await ctx.activity(db.applicationName)).length, 0)
    await db.close()
    await assert.rejects(db.listen('c', handler), PoolClosedError)
  })

  it('refuses to listen through a transaction-mode pooler, naming a direct connection as the fix', async () => {
    const db = ctx.open({ pooler: 'transaction' })
    const err = await db.listen('c', () => undefined).catch((e: unknown) => e)
    assert.ok(err instanceof MisuseError, String(err))
    assert.match(err.message, /transaction-mode pooler.*connects to PostgreSQL directly/)
    await db.notify('c', 'notify still works') // pg_notify is a plain statement
  })

  it("the listening connection is not the pool's: not in stats, outside pool.max, closed by the last unlisten and by db.close()", async () => {
    const db = ctx.open({ pool: { max: 1 } })
    const tracker = trackListenerPid(db)
    const unlisten = await db.listen('outside', () => undefined)
    assert.equal(db.stats().total, 0, 'the pool opened nothing')
    // The pool's one connection is still free for a session while the listener is open.
    await db.session(async (s) => {
      assert.equal((await s.one<{ n: number }>(sql`SELECT 1 AS n`)).n, 1)
      assert.equal(db.stats().total, 1)
      assert.equal(db.stats().inUse, 1)
    })
    const pids = (await ctx.activity(db.applicationName)).map((a) => a.pid)
    assert.equal(pids.length, 2, 'one pool connection and the listener')
    assert.ok(pids.includes(tracker.pid() as number))

    await unlisten()
    await eventually(
      async () => !(await ctx.activity(db.applicationName)).some((a) => a.pid === tracker.pid()),
      10_000,
      'listener gone after the last unlisten',
    )

    // Listening again opens a new one; db.close() closes it.
    await db.listen('outside', () => undefined)
    assert.equal(tracker.connects(), 2)
    await db.close()
    assert.deepEqual(await ctx.activity(db.applicationName), [], 'nothing left on the server')
  })

  it('after pg_terminate_backend the listener comes back, listens again, calls onGap, and later notifications arrive', async () => {
    const db = ctx.open()
    const tracker = trackListenerPid(db)
    const lost: unknown[] = []
    const gaps: { channels: string[]; attempts: number }[] = []
    db.on('listenerLost', ({ error }) => lost.push(error))
    db.on('listenerGap', ({ channels, attempts }) => gaps.push({ channels, attempts }))
    const a = inbox()
    const b = inbox()
    let gapsA = 0
    let gapsB = 0
    await db.listen('term_a', a.handler, { onGap: () => gapsA++ })
    await db.listen('term_b', b.handler, { onGap: () => gapsB++ })
    await db.notify('term_a', 'before')
    await eventually(() => a.payloads.length === 1, 10_000, 'first notification')
    const first = tracker.pid()

    await ctx.admin(`SELECT pg_terminate_backend($1)`, [first])
    await eventually(() => gapsA === 1 && gapsB === 1, 20_000, 'onGap called on each listener')
    assert.notEqual(tracker.pid(), first, 'a new backend')
    assert.equal(lost.length, 1)
    assert.ok(lost[0] instanceof Error && /terminat/i.test(lost[0].message), String(lost[0]))
    assert.deepEqual(
      gaps.map((g) => g.channels.sort()),
      [['term_a', 'term_b']],
    )

    // onGap ran after every channel was listened to again: what is sent now arrives.
    await db.notify('term_a', 'after')
    await db.notify('term_b', 'after')
    await eventually(() => a.payloads.length === 2 && b.payloads.length === 1, 10_000, 'notifications after the reconnection')
    assert.deepEqual(a.payloads, ['before', 'after'])
    assert.deepEqual(b.payloads, ['after'])
    const listening = await ctx.admin<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [
      db.applicationName,
    ])
    assert.deepEqual(
      listening.map((r) => r.pid),
      [tracker.pid()],
      'exactly one listening backend',
    )
    assert.deepEqual(unhandled, [])
  })

  it('a listener added while the connection is down resolves once it is back, and gets no onGap of its own', async () => {
    const db = ctx.open()
    const tracker = trackListenerPid(db)
    let oldGaps = 0
    await db.listen('down_old', () => undefined, { onGap: () => oldGaps++ })
    await ctx.admin(`SELECT pg_terminate_backend($1)`, [tracker.pid()])
    let newGaps = 0
    const box = inbox()
    await db.listen('down_new', box.handler, { onGap: () => newGaps++ })
    await db.notify('down_new', 'hello')
    await eventually(() => box.payloads.length === 1, 10_000, 'notification on the channel added around the loss')
    await eventually(() => oldGaps === 1, 10_000, 'the old listener hears of the gap')
    assert.equal(newGaps, 0)
  })

  it('a callback that throws is reported through the error event and does not stop the others', async () => {
    const db = ctx.open()
    const errors: Error[] = []
    db.on('error', (e) => errors.push(e))
    const box = inbox()
    await db.listen('throws', () => {
      throw new Error('handler bug')
    })
    await db.listen('throws', box.handler)
    await db.notify('throws', 'x')
    await eventually(() => box.payloads.length === 1 && errors.length === 1, 10_000, 'delivered and reported')
    assert.match(errors[0]?.message ?? '', /handler bug/)
  })
})

describe('db.listen across a server restart', () => {
  it('reconnects with backoff once the server is back, listens again, calls onGap, and delivers what is sent afterwards', async () => {
    // This test stops and starts a server, so it runs its own rather than the run's shared one.
    const server = await startEmbeddedServer()
    after(async () => {
      await server.stop({ removeData: true })
    })
    const db = createDatabase({ connectionString: server.url, applicationName: 'listen_restart' })
    try {
      const tracker = trackListenerPid(db)
      const box = inbox()
      let gaps = 0
      let gapEvent: { downMs: number; attempts: number } | undefined
      db.on('listenerGap', (e) => (gapEvent = e))
      db.on('error', () => undefined) // failed reconnection attempts while the server is down
      await db.listen('restart', box.handler, { onGap: () => gaps++ })
      await db.notify('restart', 'before')
      await eventually(() => box.payloads.length === 1, 10_000, 'first notification')
      const first = tracker.pid()

      await server.stop()
      await server.start()
      await eventually(() => gaps === 1, 30_000, 'onGap after the restart')
      assert.notEqual(tracker.pid(), first)
      assert.ok(gapEvent !== undefined && gapEvent.downMs > 0)

      await db.notify('restart', 'after')
      await eventually(() => box.payloads.length === 2, 10_000, 'notification after the restart')
      assert.deepEqual(box.payloads, ['before', 'after'])
    } finally {
      await db.close()
    }
  })
})
