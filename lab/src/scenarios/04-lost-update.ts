/**
 * Incident 001: concurrent edits of one project by read-modify-write. Two writers read the same
 * value and both write their increment: one update is lost.
 */
import { StaleVersionError, sql, updateVersioned } from 'pgsteward'
import { naivePool, virtualUsers } from '../naive-pool.ts'
import { defineScenario } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

const EDITS_PER_USER = 5

export default defineScenario<{ succeeded: number }>({
  id: 4,
  name: 'lost update on concurrent edits',
  incident: '001_5faa3aecd5aebae6.txt',
  failure: 'read-modify-write without a version check loses updates',
  async setup(_ctx, client) {
    await client.query('CREATE TABLE project (id int PRIMARY KEY, edits int NOT NULL DEFAULT 0, version int NOT NULL DEFAULT 1)')
    await client.query('INSERT INTO project (id) VALUES (1)')
  },

  async naive(ctx) {
    const pool = naivePool(ctx)
    let succeeded = 0
    await virtualUsers(ctx.users, async () => {
      for (let e = 0; e < EDITS_PER_USER; e++) {
        const r = await ctx.recorder.op(async () => {
          const { rows } = await pool.query<{ edits: number }>('SELECT edits FROM project WHERE id = 1')
          await pool.query('UPDATE project SET edits = $1 WHERE id = 1', [(rows[0]?.edits ?? 0) + 1])
        })
        if (r.ok) succeeded++
      }
    })
    return { succeeded }
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    let succeeded = 0
    await virtualUsers(ctx.users, async () => {
      for (let e = 0; e < EDITS_PER_USER; e++) {
        const r = await ctx.recorder.op(async () => {
          // Re-read and re-apply on a version conflict, as a client receiving 409 would.
          for (;;) {
            const current = await db.one<{ edits: number; version: number }>(sql`SELECT edits, version FROM project WHERE id = 1`)
            try {
              await updateVersioned(db, { table: 'project', key: { id: 1 }, expectedVersion: current.version, set: { edits: current.edits + 1 } })
              return
            } catch (err) {
              if (!(err instanceof StaleVersionError)) throw err
            }
          }
        })
        if (r.ok) succeeded++
      }
    })
    return { succeeded }
  },

  async check(ctx, { succeeded }) {
    const [row] = await ctx.admin<{ edits: number }>('SELECT edits FROM project WHERE id = 1')
    const edits = row?.edits ?? 0
    return edits === succeeded ? [] : [`${succeeded - edits} of ${succeeded} acknowledged edits were lost (counter ${edits})`]
  },
})
