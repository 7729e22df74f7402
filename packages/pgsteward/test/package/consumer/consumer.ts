/**
 * A TypeScript application's view of the package: checked by consumer.test.ts with `tsc --noEmit`
 * in a fresh project (strict, exactOptionalPropertyTypes, skipLibCheck off) under module NodeNext
 * and again under moduleResolution bundler. Never run: the types are what is under test. Each
 * `@ts-expect-error` pins a part of the surface that must stay closed.
 */
import {
  createDatabase,
  PgStewardError,
  sql,
  StaleVersionError,
  UniqueViolationError,
  updateVersioned,
  type Database,
  type DatabaseOptions,
  type HealthReport,
  type PoolStats,
  type QueryResult,
  type Transaction,
} from 'pgsteward'
import { Pool, type PgPoolOptions } from 'pgsteward/pg'
import { registerMetrics } from 'pgsteward/metrics'
import { Registry } from 'prom-client'

const options: DatabaseOptions = {
  connectionString: 'postgres://app@localhost/app',
  pool: { max: 5, acquireTimeoutMs: 2_000 },
  retry: { max: 3 },
}
export const db: Database = createDatabase(options)

export async function teamSize(team: string): Promise<number> {
  const row = await db.one<{ size: number }>(sql`SELECT count(*)::int AS size FROM users WHERE team = ${team}`)
  return row.size
}

export async function rename(id: number, title: string, version: number): Promise<{ id: number } | 'stale'> {
  try {
    return await updateVersioned<{ id: number }>(db, { table: 'projects', key: { id }, expectedVersion: version, set: { title } })
  } catch (err) {
    if (err instanceof StaleVersionError) return 'stale'
    throw err
  }
}

export function transfer(from: number, to: number, amount: number): Promise<QueryResult> {
  return db.transaction(
    async (tx: Transaction) => {
      await tx.query(sql`UPDATE accounts SET balance = balance - ${amount} WHERE id = ${from}`)
      tx.afterCommit(() => undefined)
      return tx.query(sql`UPDATE accounts SET balance = balance + ${amount} WHERE id = ${to}`)
    },
    { isolation: 'serializable', timeoutMs: 5_000 },
  )
}

export function explain(err: unknown): string {
  if (err instanceof UniqueViolationError) return `duplicate (${err.constraint ?? 'unnamed constraint'})`
  if (err instanceof PgStewardError) return err.code
  return 'unexpected'
}

export async function observe(): Promise<{ health: HealthReport; stats: PoolStats }> {
  db.on('leak', ({ connectionId, heldMs }) => console.warn(`connection ${connectionId} held ${heldMs} ms`))
  registerMetrics(db, new Registry(), { poolName: 'main' })
  return { health: await db.health({ timeoutMs: 1_000 }), stats: db.stats() }
}

const legacy: PgPoolOptions = { connectionString: 'postgres://app@localhost/app', max: 2 }
export const pool = new Pool(legacy)
export async function legacyQuery(): Promise<number | undefined> {
  const result = await pool.query<{ n: number }>('SELECT 1 AS n')
  return result.rows[0]?.n
}

// @ts-expect-error Database is exported as a type: only createDatabase makes one, with validated options.
export const constructed = new Database(options)
// @ts-expect-error The pool is private: stats(), health() and events are the public view of it.
export const internalPool: unknown = db.pool
// @ts-expect-error Statements are built with the sql tag, never from a plain string.
export const unsafe = db.query('SELECT 1')
