/**
 * Bounded waiting for a condition that other processes make true (a server ready, a standby
 * caught up, a backend gone). The bound is a safety net with a clear message, never an
 * assertion about speed: pick it generously, a loaded CI machine only makes the wait longer.
 */
import { setTimeout as sleep } from 'node:timers/promises'

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** What is awaited, for the timeout message ("standby to replay 0/3000060"). A function is called when the message is built, so it can report the last observation. */
  what: string | (() => string)
  /** Give up after this long. (Default: 30000) */
  timeoutMs?: number
  /** Pause between probes. (Default: 50) */
  intervalMs?: number
  /** Checked before each probe: an error returned here ends the wait at once (a process that exited will never become ready). */
  fatal?: () => Error | undefined
}

/**
 * Call `probe` until it returns a value other than `undefined`, `null` or `false`, and return
 * that value. A probe that throws counts as "not yet" (a server still starting refuses
 * connections); the last such error is named in the timeout error.
 *
 * @example
 * ```ts
 * await waitFor(
 *   async () => (await admin.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 0,
 *   { what: `backend ${pid} to exit` },
 * )
 * ```
 * @throws Error `Timed out after <ms> ms waiting for <what>` (with the last probe error as `cause`), or the `fatal` error.
 */
export async function waitFor<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, options: WaitForOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const intervalMs = options.intervalMs ?? 50
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    const fatal = options.fatal?.()
    if (fatal) throw fatal
    try {
      const value = await probe()
      if (value !== undefined && value !== null && value !== false) return value
      lastError = undefined
    } catch (error) {
      lastError = error
    }
    if (Date.now() >= deadline) {
      const what = typeof options.what === 'function' ? options.what() : options.what
      const last = lastError instanceof Error ? ` (last attempt: ${lastError.message})` : ''
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last}`, lastError === undefined ? undefined : { cause: lastError })
    }
    // A referenced timer on purpose: the caller awaits this wait, so the process must stay up for it.
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())))
  }
}
