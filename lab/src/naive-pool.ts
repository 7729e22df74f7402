/**
 * The pool the naive variants use: node-postgres's pg.Pool configured as its documentation and
 * typical application code do, and an `end` that cannot hang the lab when clients leaked.
 */
import pg from 'pg'
import type { ScenarioContext } from './scenario.ts'

export function naivePool(ctx: ScenarioContext, options: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, application_name: ctx.applicationName, max: 10, ...options })
  ctx.onCleanup(() => Promise.race([pool.end(), new Promise((r) => setTimeout(r, 1_000))]))
  ctx.recorder.watch(() => ({ inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount }))
  return pool
}

/**
 * Count the 'error' events a pool emits for idle clients whose server connection died. Counting
 * only: the original emit still throws when no listener exists, as it would in an application.
 */
export function countIdleClientErrors(pool: pg.Pool): () => number {
  let count = 0
  const emit = pool.emit.bind(pool)
  pool.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'error') count++
    return emit(event, ...args)
  }
  return () => count
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Run `count` virtual users at once, each running `user(i)`. */
export async function virtualUsers(count: number, user: (i: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => user(i)))
}
