/**
 * Incident 002: requests cancelled mid-query (client gone, timeout). The naive handler gives up
 * waiting and returns its client to the pool while the query still runs inside its transaction;
 * the next borrower inherits a dirty connection, and the abandoned work can get committed.
 */
import { sql } from 'pgsteward'
import { connectionViolations, connectionCensus } from '../checks/connections.ts'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

const REQUEST_TIMEOUT_MS = 40

/** The work takes 0..80 ms: about half the requests time out. */
const workSeconds = (): number => Math.random() * 0.08

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('request timed out')), ms))])
}

export default defineScenario<Map<number, boolean>>({
  id: 3,
  name: 'aborted requests mid-query',
  incident: '002_6fd61bc4a8c6dca3.txt',
  failure: 'cleanup runs while the query is in flight: dirty connections, abandoned work committed',
  async setup(_ctx, client) {
    await client.query('CREATE TABLE orders (request int PRIMARY KEY)')
  },

  async naive(ctx) {
    const pool = naivePool(ctx)
    // Work that was never awaited still rejects later; an application would log it.
    const late: Promise<unknown>[] = []
    const outcomes = new Map<number, boolean>()
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(async () => {
        const client = await pool.connect()
        try {
          await client.query('BEGIN')
          await client.query('INSERT INTO orders VALUES ($1)', [i])
          const slow = client.query('SELECT pg_sleep($1)', [workSeconds()])
          late.push(slow.catch(() => undefined))
          await withTimeout(slow, REQUEST_TIMEOUT_MS)
          await client.query('COMMIT')
        } finally {
          client.release()
        }
      })
      outcomes.set(i, r.ok)
    })
    await Promise.all(late)
    return outcomes
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    const outcomes = new Map<number, boolean>()
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(() =>
        db.transaction(
          async (tx) => {
            await tx.query(sql`INSERT INTO orders VALUES (${i})`)
            await tx.query(sql`SELECT pg_sleep(${workSeconds()})`)
          },
          { timeoutMs: REQUEST_TIMEOUT_MS },
        ),
      )
      outcomes.set(i, r.ok)
    })
    return outcomes
  },

  async check(ctx, outcomes) {
    const out = connectionViolations(await connectionCensus(ctx))
    const committed = new Set((await ctx.admin<{ request: number }>('SELECT request FROM orders')).map((r) => r.request))
    let ghosts = 0
    let lost = 0
    for (const [i, ok] of outcomes) {
      if (!ok && committed.has(i)) ghosts++
      if (ok && !committed.has(i)) lost++
    }
    if (ghosts > 0) out.push(`${ghosts} aborted request(s) had their order committed anyway`)
    if (lost > 0) out.push(`${lost} successful request(s) have no order`)
    return out
  },
})
