/**
 * Incident 000: concurrent requests end up on one connection (a session cached at module level),
 * so their transaction boundaries interleave: one request's ROLLBACK undoes another's work, one
 * request's COMMIT commits another's half-done work.
 */
import type pg from 'pg'
import { sql, type Transaction } from 'pgsteward'
import { allOrNothing } from '../checks/request-rows.ts'
import { naivePool, sleep, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

/** Every fourth request fails a business rule after its first insert and must leave nothing. */
const failsRule = (i: number): boolean => i % 4 === 0

export default defineScenario<Map<number, boolean>>({
  id: 1,
  name: 'shared session in a transaction',
  incident: '000_c173d729be8a5bdc.txt',
  failure: 'two tasks on one connection: statements and transaction boundaries interleave',
  async setup(_ctx, client) {
    await client.query('CREATE TABLE ledger (request int NOT NULL, part text NOT NULL, PRIMARY KEY (request, part))')
  },

  async naive(ctx) {
    const pool = naivePool(ctx)
    // The "current session", created once and reused by every request.
    let session: Promise<pg.PoolClient> | undefined
    const outcomes = new Map<number, boolean>()
    await virtualUsers(ctx.users, async (i) => {
      const result = await ctx.recorder.op(async () => {
        const client = await (session ??= pool.connect())
        await client.query('BEGIN')
        await client.query('INSERT INTO ledger VALUES ($1, $2)', [i, 'a'])
        await sleep(Math.random() * 5)
        if (failsRule(i)) {
          await client.query('ROLLBACK')
          throw new Error('business rule failed')
        }
        await client.query('INSERT INTO ledger VALUES ($1, $2)', [i, 'b'])
        await client.query('COMMIT')
      })
      outcomes.set(i, result.ok)
    })
    return outcomes
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    // The same mistake: a transaction object cached at module level and picked up by other requests.
    let shared: Transaction | undefined
    const outcomes = new Map<number, boolean>()
    await virtualUsers(ctx.users, async (i) => {
      const result = await ctx.recorder.op(async () => {
        const body = async (tx: Transaction): Promise<void> => {
          await tx.query(sql`INSERT INTO ledger VALUES (${i}, 'a')`)
          await sleep(Math.random() * 5)
          if (failsRule(i)) throw new Error('business rule failed')
          await tx.query(sql`INSERT INTO ledger VALUES (${i}, 'b')`)
        }
        if (shared !== undefined) return body(shared)
        return db.transaction(async (tx) => {
          shared = tx
          try {
            await body(tx)
          } finally {
            if (shared === tx) shared = undefined
          }
        })
      })
      outcomes.set(i, result.ok)
    })
    return outcomes
  },

  async check(ctx, outcomes) {
    const rows = await ctx.admin<{ request: number; part: string }>('SELECT request, part FROM ledger')
    return allOrNothing(outcomes, rows, ['a', 'b'])
  },
})
