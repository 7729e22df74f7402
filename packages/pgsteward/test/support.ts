/**
 * Per-file test support: a fresh database, databases built on it that are closed when the file
 * ends, and a look at the server's own view of our connections (pg_stat_activity).
 */
import { randomBytes } from 'node:crypto'
import { after } from 'node:test'
import { createTestDatabase, withClient } from '@pgsteward/testkit'
import { createDatabase, type Database, type DatabaseOptions } from 'pgsteward'

export interface TestContext {
  url: string
  /**
   * A database on this file's fresh database; each gets its own application_name. `url` sends its
   * connections somewhere else first (a relay in front of the same server).
   */
  open(options?: Omit<DatabaseOptions, 'connectionString'>, url?: string): Database & { applicationName: string }
  /** Run SQL as superuser, outside any pool under test. */
  admin<T>(sqlText: string, values?: unknown[]): Promise<T[]>
  /** Server-side sessions of one application_name, from pg_stat_activity. */
  activity(applicationName: string): Promise<{ pid: number; state: string | null; xact_start: Date | null; query: string }[]>
}

export async function setup(label: string): Promise<TestContext> {
  const url = await createTestDatabase(label)
  const opened: Database[] = []
  after(async () => {
    await Promise.all(opened.map((db) => db.close({ timeoutMs: 2_000 })))
  })
  const admin = <T>(text: string, values?: unknown[]): Promise<T[]> => withClient(url, async (c) => (await c.query(text, values)).rows as T[])
  return {
    url,
    open(options = {}, through = url) {
      const applicationName = options.applicationName ?? `t_${randomBytes(5).toString('hex')}`
      const db = createDatabase({ ...options, connectionString: through, applicationName })
      opened.push(db)
      return Object.assign(db, { applicationName })
    },
    admin,
    activity: (applicationName) =>
      admin(`SELECT pid, state, xact_start, query FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, [applicationName]),
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Poll until `check` returns true, or fail with `message`. The limit is at least 20 s whatever a
 * test asks: it only ends a wait that is already a failure, and a loaded machine must never turn a
 * slow success into one. Tests assert on what happened, never on how fast.
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const limit = Math.max(timeoutMs, 20_000)
  const deadline = Date.now() + limit
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${limit} ms: ${message}`)
    await sleep(10)
  }
}

/**
 * Wait until the pool has opened all its connections (open it with `pool.min` = `pool.max`), so
 * a short acquire timeout under test bounds only the wait under test, never the first connects.
 */
export async function warm(db: Database): Promise<void> {
  const { max } = db.options.pool
  await eventually(() => db.stats().idle === max, 30_000, `all ${max} connections open`)
}

/** Unhandled rejections seen while this file runs; a test asserts the list stays empty. */
export function collectUnhandledRejections(): unknown[] {
  const seen: unknown[] = []
  const record = (reason: unknown): void => {
    seen.push(reason)
  }
  process.on('unhandledRejection', record)
  after(() => {
    process.off('unhandledRejection', record)
  })
  return seen
}
