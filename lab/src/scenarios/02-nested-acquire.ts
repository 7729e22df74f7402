/**
 * Incident 003's self-deadlock, at the pool: a handler holds a connection and asks the pool for a
 * second one (an audit write). Under load every connection is held by a handler waiting for
 * another: the pool deadlocks until acquire timeouts fire.
 */
import { sql } from 'pgsteward'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

const ACQUIRE_TIMEOUT_MS = 3_000

export default defineScenario<{ succeeded: number }>({
  id: 2,
  name: 'nested acquire under load',
  incident: '003_e2fa8a9a0014bbd7.txt',
  failure: 'holding a connection while waiting for another: the pool deadlocks',
  async setup(ctx, client) {
    await client.query('CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL)')
    await client.query('INSERT INTO account SELECT g, 0 FROM generate_series(0, $1) g', [ctx.users])
    await client.query('CREATE TABLE audit (account int NOT NULL, at timestamptz NOT NULL DEFAULT now())')
  },

  async naive(ctx) {
    // A bounded wait, as production configurations set it; with pg's default (0) this would hang forever.
    const pool = naivePool(ctx, { connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS })
    let succeeded = 0
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(async () => {
        const client = await pool.connect()
        try {
          await client.query('BEGIN')
          await client.query('UPDATE account SET balance = balance + 1 WHERE id = $1', [i])
          await pool.query('INSERT INTO audit (account) VALUES ($1)', [i])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK')
          throw err
        } finally {
          client.release()
        }
      })
      if (r.ok) succeeded++
    })
    ctx.note(`pg.Pool connectionTimeoutMillis ${ACQUIRE_TIMEOUT_MS} ms; without it the deadlock never ends`)
    return { succeeded }
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx, { pool: { acquireTimeoutMs: ACQUIRE_TIMEOUT_MS } })
    let succeeded = 0
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(() =>
        db.transaction(async (tx) => {
          await tx.query(sql`UPDATE account SET balance = balance + 1 WHERE id = ${i}`)
          // The same audit call: inside the transaction it runs on the held connection, not a second one.
          await db.query(sql`INSERT INTO audit (account) VALUES (${i})`)
        }),
      )
      if (r.ok) succeeded++
    })
    // Asking for a second connection on purpose fails fast instead of waiting on itself.
    let holding = 0
    let allHolding!: () => void
    const everyoneHolds = new Promise<void>((resolve) => (allHolding = resolve))
    const started = Date.now()
    const blocker = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        db.session(async (s) => {
          await s.query(sql`SELECT 1`)
          if (++holding === 10) allHolding()
          await everyoneHolds
          return db.transaction(async () => undefined, { independent: true })
        }),
      ),
    )
    const failedFast = blocker.filter((b) => b.status === 'rejected' && (b.reason as { code?: string }).code === 'POOL_DEADLOCK').length
    ctx.note(`independent second connections with the pool exhausted: ${failedFast} of 10 failed fast with PoolDeadlockError in ${Date.now() - started} ms`)
    return { succeeded }
  },

  async check(ctx, { succeeded }) {
    const out: string[] = []
    const failed = ctx.users - succeeded
    if (failed > 0) out.push(`${failed} of ${ctx.users} requests failed: handlers waited for a second connection while holding one`)
    const [balance] = await ctx.admin<{ total: number }>('SELECT coalesce(sum(balance), 0)::int AS total FROM account')
    const [audits] = await ctx.admin<{ n: number }>('SELECT count(*)::int AS n FROM audit')
    if (balance?.total !== succeeded) out.push(`balances show ${balance?.total} updates but ${succeeded} requests succeeded`)
    if (audits?.n !== succeeded) out.push(`${audits?.n} audit rows for ${succeeded} successful requests (audit written outside the transaction)`)
    return out
  },
})
