/**
 * A fresh database for each test file, on the run's server (`PGSTEWARD_TEST_ADMIN_URL`, set by
 * the test runner) or on `DATABASE_URL`. Files run in parallel without seeing each other's rows.
 */
import { randomBytes } from 'node:crypto'
import { after } from 'node:test'
import pg from 'pg'

/** The server the tests use, as a superuser URL. */
export function adminUrl(): string {
  const url = process.env.PGSTEWARD_TEST_ADMIN_URL ?? process.env.DATABASE_URL
  if (!url) throw new Error('No test server: run the tests with `npm test`, which starts an embedded PostgreSQL, or set DATABASE_URL.')
  return url
}

/** The same server URL pointing at another database. */
export function urlFor(database: string, base = adminUrl()): string {
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/**
 * Create an empty database for this test file, dropped when the file's tests end.
 * Returns its URL.
 */
export async function createTestDatabase(label = 'test'): Promise<string> {
  const name = `pgsteward_${label
    .replace(/[^a-z0-9_]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${randomBytes(4).toString('hex')}`
  // Registered before the first await, in the caller's test context (see stop-after-test.ts).
  after(async () => {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  })
  await admin((c) => c.query(`CREATE DATABASE "${name}"`))
  return urlFor(name)
}

/** Run SQL as the superuser on the given database (setup, server inspection). */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgsteward-test-inspector' })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}
