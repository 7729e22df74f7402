/**
 * Connection hygiene as the server sees it: sessions of one application left active (a query
 * still running or a leaked client) or idle in transaction (a dirty connection).
 */
import type { ScenarioContext } from '../scenario.ts'

export interface ConnectionCensus {
  active: number
  idleInTransaction: number
  idle: number
}

export async function connectionCensus(ctx: Pick<ScenarioContext, 'admin' | 'applicationName'>): Promise<ConnectionCensus> {
  const rows = await ctx.admin<{ state: string | null; n: number }>(
    `SELECT state, count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() GROUP BY state`,
    [ctx.applicationName],
  )
  const count = (state: string): number => rows.filter((r) => r.state === state).reduce((a, r) => a + r.n, 0)
  return { active: count('active'), idleInTransaction: count('idle in transaction') + count('idle in transaction (aborted)'), idle: count('idle') }
}

/** Violations for a variant that should leave no dirty or running session behind. */
export function connectionViolations(census: ConnectionCensus): string[] {
  const out: string[] = []
  if (census.idleInTransaction > 0) out.push(`${census.idleInTransaction} connection(s) left idle in transaction`)
  if (census.active > 0) out.push(`${census.active} connection(s) still running a query after the work finished`)
  return out
}
