/**
 * The health check: a real `SELECT 1` through the pool, bounded in time, that reports instead of
 * throwing. A check that never touches the database says "ok" while the database is down.
 */
import { performance } from 'node:perf_hooks'
import type { PoolStateSnapshot } from './errors.js'
import type { Pool } from './pool.js'

export interface HealthReport {
  /** ok: answered without waiting; degraded: had to wait or others are queued; down: no answer. */
  status: 'ok' | 'degraded' | 'down'
  latencyMs: number
  pool: PoolStateSnapshot
  server: { version: string | undefined }
  /** Why the check is degraded or down. */
  reason?: string
}

export async function checkHealth(pool: Pool, timeoutMs: number): Promise<HealthReport> {
  const startedAt = performance.now()
  const before = pool.snapshot()
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  let version: string | undefined
  // Had to wait: others were queued, or every connection was busy and no new one could be opened.
  const saturated = before.waiting > 0 || (before.idle === 0 && before.total >= before.max)
  try {
    const conn = await pool.acquire({ signal: controller.signal, timeoutMs })
    try {
      version = conn.serverVersion
      const answer = await Promise.race([
        conn.query({ text: 'SELECT 1 AS ok' }),
        new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true })),
      ])
      if (Array.isArray(answer) || answer.rows[0]?.ok !== 1) throw new Error('SELECT 1 returned an unexpected answer')
    } finally {
      pool.release(conn)
    }
    const latencyMs = Math.round((performance.now() - startedAt) * 100) / 100
    const after = pool.snapshot()
    const queued = Math.max(before.waiting, after.waiting)
    const degraded = saturated || queued > 0
    return {
      status: degraded ? 'degraded' : 'ok',
      latencyMs,
      pool: after,
      server: { version },
      ...(degraded ? { reason: queued > 0 ? `${queued} requests were waiting for a connection` : 'every connection was in use' } : {}),
    }
  } catch (err) {
    return {
      status: 'down',
      latencyMs: Math.round((performance.now() - startedAt) * 100) / 100,
      pool: pool.snapshot(),
      server: { version },
      reason: err instanceof Error ? err.message : String(err),
    }
  } finally {
    clearTimeout(timer)
  }
}
