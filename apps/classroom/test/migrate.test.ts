import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createTestDatabase, withClient } from '@pgsteward/testkit'
import { createDatabase } from 'pgsteward'
import { migrateDown, migrateUp } from '../src/migrate.ts'

describe('migrations', () => {
  it('two instances starting together migrate once; down undoes it; up again restores it', async () => {
    const url = await createTestDatabase('migrate')
    const a = createDatabase({ connectionString: url, applicationName: 'migrate-a' })
    const b = createDatabase({ connectionString: url, applicationName: 'migrate-b' })
    try {
      const [first, second] = await Promise.all([migrateUp(a), migrateUp(b)])
      assert.deepEqual([...first, ...second], [1, 2, 3], 'exactly one instance applied the migrations')
      const versions = await withClient(url, async (c) => (await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows)
      assert.deepEqual(versions, [{ version: 1 }, { version: 2 }, { version: 3 }])
      assert.deepEqual(await migrateUp(a), [], 'nothing left to do')
      assert.deepEqual(await migrateDown(a, 3), [3, 2, 1])
      const tables = await withClient(url, async (c) => (await c.query<{ t: string | null }>(`SELECT to_regclass('public.users')::text AS t`)).rows)
      assert.deepEqual(tables, [{ t: null }])
      assert.deepEqual(await migrateUp(b), [1, 2, 3])
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})
