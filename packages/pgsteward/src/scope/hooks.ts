/**
 * afterCommit / afterRollback hooks: run in order, each failure reported and never allowed to
 * change the transaction's outcome.
 */
import type { Pool } from '../pool/pool.js'

export interface Hooks {
  commit: (() => unknown)[]
  rollback: ((error: unknown) => unknown)[]
}

export async function runHooks(
  pool: Pool,
  phase: 'afterCommit' | 'afterRollback',
  hooks: readonly ((error: unknown) => unknown)[],
  error: unknown,
): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook(error)
    } catch (hookError) {
      pool.counters.hookErrors++
      if (pool.listenerCount('hookError') > 0) pool.emit('hookError', { phase, error: hookError })
      else process.emitWarning(`pgsteward: an ${phase} hook threw: ${String(hookError)}`, 'PgStewardWarning')
      if (typeof error === 'object' && error !== null) {
        const carrier = error as { hookErrors?: unknown[] }
        try {
          carrier.hookErrors = [...(carrier.hookErrors ?? []), hookError]
        } catch {
          // A frozen error cannot carry it; the event above still reported it.
        }
      }
    }
  }
}
