/**
 * The health check: a real `SELECT 1` through the pool, bounded in time, that reports instead of
 * throwing. A check that never touches the database says "ok" while the database is down.
 */
import { performance } from 'node:perf_hooks'
import type { PoolStateSnapshot } from './errors/error-messages.js'
import { runOneShot } from './scope/run-statement.js'
import type { ScopeHost } from './scope/scope-host.js'

/** What `db.health()` reports. */
export interface HealthReport {
  /**
   * ok: answered without waiting; degraded: answered, but had to wait for a connection or others
   * were queued (busy is not down); down: no answer within the time given.
   */
  status: 'ok' | 'degraded' | 'down'
  /** How long the check took, in milliseconds (two decimals). */
  latencyMs: number
  /** The pool's gauges after the check. */
  pool: PoolStateSnapshot
  /** What the server reported about itself. */
  server: {
    /** `server_version` from the connection start-up, e.g. '17.5'; undefined before any connection opened. */
    version: string | undefined
  }
  /** Why the check is degraded or down. */
  reason?: string
  /**
   * With `replicas`: each standby checked the same way, at the same time. A standby down or busy
   * makes the whole report 'degraded', not 'down': reads then run on the primary.
   */
  replicas?: ReplicaHealth[]
}

/**
 * One standby's part of `db.health()`.
 * @example
 * ```ts
 * const { replicas = [] } = await db.health()
 * for (const r of replicas) if (r.status !== 'ok') log.warn({ server: r.server, reason: r.reason }, 'standby not serving reads')
 * ```
 */
export interface ReplicaHealth {
  /** Where it is: `host:port as user to database name`, never the password. */
  server: string
  /** Its own check: ok, degraded (answered after waiting for a connection), down (no answer in time). */
  status: HealthReport['status']
  /** How long its check took, in milliseconds (two decimals). */
  latencyMs: number
  /** Why it is degraded or down. */
  reason?: string
}

/**
 * The primary's report with its standbys' beside it: a standby that is not ok degrades the whole,
 * and the reason says which and why (the primary's own reason first).
 */
export function withReplicas(primary: HealthReport, replicas: ReplicaHealth[]): HealthReport {
  const unwell = replicas.filter((r) => r.status !== 'ok')
  if (unwell.length === 0 || primary.status === 'down') return { ...primary, replicas }
  const said = unwell.map((r) => `standby ${r.server} ${r.status}${r.reason === undefined ? '' : `: ${r.reason}`}`).join('; ')
  return { ...primary, status: 'degraded', reason: primary.reason === undefined ? said : `${primary.reason}; ${said}`, replicas }
}

export async function checkHealth(host: ScopeHost, timeoutMs: number): Promise<HealthReport> {
  const { pool } = host
  const startedAt = performance.now()
  const before = pool.snapshot()
  // Had to wait: others were queued, or every connection was busy and no new one could be opened.
  const saturated = before.waiting > 0 || (before.idle === 0 && before.total >= before.max)
  const elapsed = (): number => Math.round((performance.now() - startedAt) * 100) / 100
  try {
    const answer = await runOneShot(host, { text: 'SELECT 1 AS ok', values: [] }, { timeoutMs })
    const row = (Array.isArray(answer) ? answer[0] : answer)?.rows[0] as { ok?: unknown } | undefined
    if (row?.ok !== 1) throw new Error('SELECT 1 returned an unexpected answer')
    const after = pool.snapshot()
    const queued = Math.max(before.waiting, after.waiting)
    const degraded = saturated || queued > 0
    return {
      status: degraded ? 'degraded' : 'ok',
      latencyMs: elapsed(),
      pool: after,
      server: { version: pool.serverVersion },
      ...(degraded ? { reason: queued > 0 ? `${queued} requests were waiting for a connection` : 'every connection was in use' } : {}),
    }
  } catch (err) {
    return {
      status: 'down',
      latencyMs: elapsed(),
      pool: pool.snapshot(),
      server: { version: pool.serverVersion },
      reason: err instanceof Error ? err.message : String(err),
    }
  }
}
