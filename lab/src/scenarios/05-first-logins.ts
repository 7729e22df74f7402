/**
 * Incident 001: concurrent first logins of the same user. Select-then-insert races: with a
 * unique constraint the losers fail their login; without one, duplicates appear.
 */
import { getOrCreate } from 'pgsteward'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

/** Ten concurrent first logins per username. */
const usernameOf = (i: number): string => `user-${Math.floor(i / 10)}`

export default defineScenario<Map<number, number | null>>({
  id: 5,
  name: 'concurrent first logins',
  incident: '001_5faa3aecd5aebae6.txt',
  failure: 'select-then-insert get-or-create: duplicates or failed logins',
  async setup(_ctx, client) {
    await client.query('CREATE TABLE users (id serial PRIMARY KEY, username text NOT NULL UNIQUE)')
  },

  async naive(ctx) {
    const pool = naivePool(ctx)
    const ids = new Map<number, number | null>()
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(async () => {
        const found = await pool.query<{ id: number }>('SELECT id FROM users WHERE username = $1', [usernameOf(i)])
        if (found.rows[0]) return found.rows[0].id
        const created = await pool.query<{ id: number }>('INSERT INTO users (username) VALUES ($1) RETURNING id', [usernameOf(i)])
        return created.rows[0]?.id ?? null
      })
      ids.set(i, r.ok ? r.value : null)
    })
    return ids
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    const ids = new Map<number, number | null>()
    await virtualUsers(ctx.users, async (i) => {
      const r = await ctx.recorder.op(async () => (await getOrCreate<{ id: number }>(db, { table: 'users', key: { username: usernameOf(i) } })).row.id)
      ids.set(i, r.ok ? r.value : null)
    })
    return ids
  },

  async check(ctx, ids) {
    const rows = await ctx.admin<{ id: number; username: string }>('SELECT id, username FROM users')
    const out: string[] = []
    const byName = new Map<string, number[]>()
    for (const r of rows) byName.set(r.username, [...(byName.get(r.username) ?? []), r.id])
    const duplicated = [...byName.values()].filter((v) => v.length > 1).length
    if (duplicated > 0) out.push(`${duplicated} username(s) have more than one row`)
    let failed = 0
    let wrong = 0
    for (const [i, id] of ids) {
      if (id === null) failed++
      else if (!(byName.get(usernameOf(i)) ?? []).includes(id)) wrong++
    }
    if (failed > 0) out.push(`${failed} login(s) failed instead of finding or creating the user`)
    if (wrong > 0) out.push(`${wrong} login(s) got an id that is not their user's row`)
    return out
  },
})
