/**
 * The slow-statement log (`createDatabase({ logger, slowStatementMs })`): a listener on the
 * pool's `query` event that hands statements at or over the threshold to `logger.warn`. It only
 * exists when both options are set, so a database without them measures nothing.
 */
import type { DatabaseLogger } from '../options/database-options.js'
import type { Pool } from '../pool/pool.js'
import { shownText } from './statement-label.js'

export function logSlowStatements(pool: Pool, logger: DatabaseLogger, thresholdMs: number, poolName: string): void {
  pool.on('query', (event) => {
    if (event.durationMs < thresholdMs) return
    const entry: Record<string, unknown> = {
      pool: poolName,
      sql: shownText(event.sql, event.via),
      durationMs: Math.round(event.durationMs * 10) / 10,
      thresholdMs,
      rowCount: event.rowCount,
      command: event.command,
      scope: event.scope,
      via: event.via,
      connectionId: event.connectionId,
    }
    if (event.error !== undefined) entry.error = event.error
    try {
      logger.warn(entry, 'slow statement')
    } catch {
      // A failing logger never fails the statement it reports on.
    }
  })
}
