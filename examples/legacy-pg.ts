/** Existing node-postgres code: change the import, keep the code. */
import { Pool } from 'pgsteward/pg' // was: import { Pool } from 'pg'
import { withDatabase } from './with-database.ts'

await withDatabase(async (url) => {
  const pool = new Pool({ connectionString: url, max: 5, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 2_000 })
  pool.on('error', (err: Error) => console.error('idle client error', err.message))
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('CREATE TABLE IF NOT EXISTS visit (at timestamptz NOT NULL DEFAULT now())')
    await client.query('INSERT INTO visit DEFAULT VALUES')
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK')
    throw err
  } finally {
    client.release()
  }
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM visit')
  console.log('visits', rows[0]?.n, 'health', (await pool.db.health()).status)
  await pool.end()
})
