/**
 * Issue 16, poolers: an application behind PgBouncer in transaction mode, where each transaction
 * may run on a different server connection. node-postgres's named prepared statements are
 * prepared on one server connection and used on another: `26000 prepared statement does not
 * exist`, or prepared again where another client already did: `42P05 prepared statement already
 * exists`. pgsteward in pooler mode must run the same work without either.
 */
import { sql } from 'pgsteward'
import { findPgBouncer, PGBOUNCER_INSTALL, startPgBouncer } from '../pgbouncer.ts'
import { naivePool, sleep, virtualUsers } from '../naive-pool.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { stewardDatabase, stewardRefuses } from '../steward.ts'

/** Server connections PgBouncer keeps per database: fewer than the application's 20 clients. */
const SERVER_POOL = 5
const CLIENT_POOL = 20
const ITEMS = 10

export interface PoolerOutcome {
  operations: number
  succeeded: number
  /** Successful increments, to compare with the counters the database holds. */
  increments: number
  errors: Record<string, number>
  pgbouncer: string
}

/** Each user looks an item up and counts a hit on it, over and over, through PgBouncer. */
async function throughPooler(
  ctx: ScenarioContext,
  work: (connectionString: string) => { lookUp(id: number): Promise<unknown>; hit(id: number): Promise<unknown> },
): Promise<PoolerOutcome> {
  const bouncer = await startPgBouncer(ctx.databaseUrl, SERVER_POOL)
  ctx.onCleanup(() => bouncer.stop())
  const client = work(bouncer.urlFor(ctx.databaseUrl))
  const outcome: PoolerOutcome = { operations: 0, succeeded: 0, increments: 0, errors: {}, pgbouncer: bouncer.version }
  const rounds = ctx.quick ? 10 : 40
  await virtualUsers(Math.min(ctx.users, 60), async (user) => {
    for (let round = 0; round < rounds; round++) {
      const id = (user + round) % ITEMS
      for (const [step, run] of [
        ['look-up', () => client.lookUp(id)],
        ['hit', () => client.hit(id)],
      ] as const) {
        const r = await ctx.recorder.op(run)
        outcome.operations++
        if (r.ok) {
          outcome.succeeded++
          if (step === 'hit') outcome.increments++
        } else {
          const kind = (r.error as { code?: unknown }).code
          const key = typeof kind === 'string' ? kind : 'other'
          outcome.errors[key] = (outcome.errors[key] ?? 0) + 1
        }
      }
      await sleep(Math.random() * 3)
    }
  })
  return outcome
}

const ERROR_NAMES: Record<string, string> = {
  '42P05': 'prepared statement already exists',
  '26000': 'prepared statement does not exist',
}

export default defineScenario<PoolerOutcome>({
  id: 14,
  name: 'prepared statements behind PgBouncer',
  incident: 'issue 16 (poolers): 347 of 600 operations failed with 42P05 behind PgBouncer 1.18 in transaction mode',
  failure: 'named prepared statements behind a transaction-mode pooler: 42P05 already exists, 26000 does not exist',

  async unavailable(variant) {
    if (!(await findPgBouncer())) return `pgbouncer is not on PATH: install it with \`${PGBOUNCER_INSTALL}\``
    if (variant === 'naive') return undefined
    const refused = await stewardRefuses(poolerOptions('postgres://lab@127.0.0.1:1/lab'))
    return refused === undefined ? undefined : `pgsteward has no pooler mode yet (issue 16): createDatabase({ pooler: 'transaction' }) says "${refused}"`
  },

  async setup(_ctx, client) {
    await client.query('CREATE TABLE item (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0)')
    await client.query('INSERT INTO item (id) SELECT g FROM generate_series(0, $1) g', [ITEMS - 1])
  },

  async naive(ctx) {
    return throughPooler(ctx, (connectionString) => {
      const pool = naivePool(ctx, { connectionString, max: CLIENT_POOL })
      // Named statements, as node-postgres documents them for statements run often.
      return {
        lookUp: (id) => pool.query({ name: 'item-by-id', text: 'SELECT id, hits FROM item WHERE id = $1', values: [id] }),
        hit: (id) => pool.query({ name: 'item-hit', text: 'UPDATE item SET hits = hits + 1 WHERE id = $1', values: [id] }),
      }
    })
  },

  async pgsteward(ctx) {
    return throughPooler(ctx, (connectionString) => {
      // The default statement cache stays on: pooler mode must make it safe, not the caller.
      const db = stewardDatabase(ctx, poolerOptions(connectionString), connectionString)
      return {
        lookUp: (id) => db.query(sql`SELECT id, hits FROM item WHERE id = ${id}`),
        hit: (id) => db.query(sql`UPDATE item SET hits = hits + 1 WHERE id = ${id}`),
      }
    })
  },

  async check(ctx, o) {
    const out: string[] = []
    ctx.note(
      `through ${o.pgbouncer} in transaction mode, ${SERVER_POOL} server connections for ${CLIENT_POOL} clients: ${o.succeeded} of ${o.operations} operations succeeded`,
    )
    const failed = o.operations - o.succeeded
    if (failed > 0) {
      const kinds = Object.entries(o.errors)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${n} × ${code}${ERROR_NAMES[code] ? ` ${ERROR_NAMES[code]}` : ''}`)
      out.push(`${failed} of ${o.operations} operations failed: ${kinds.join(', ')}`)
    }
    const [row] = await ctx.admin<{ hits: number }>('SELECT coalesce(sum(hits), 0)::int AS hits FROM item')
    if (row?.hits !== o.increments) out.push(`the items count ${row?.hits} hits for ${o.increments} acknowledged increments`)
    return out
  },
})

/**
 * pgsteward's pooler mode, an option the lead is adding (issue 16). Typed here, not in
 * DatabaseOptions, so the lab compiles before it exists; `stewardRefuses` tells the day it does.
 */
function poolerOptions(connectionString: string): Parameters<typeof stewardRefuses>[0] {
  const options: Parameters<typeof stewardRefuses>[0] & { pooler: 'transaction' } = { connectionString, pool: { max: CLIENT_POOL }, pooler: 'transaction' }
  return options
}
