/**
 * Database work the live module started on its own (message handling, chat writes, leaderboard
 * reads), so shutdown can wait for it before the database is closed under it.
 */
export class InflightWork {
  readonly #pending = new Set<Promise<unknown>>()

  /** Returns `work` unchanged; its outcome stays the caller's to handle. */
  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    )
    this.#pending.add(settled)
    void settled.then(() => this.#pending.delete(settled))
    return work
  }

  get size(): number {
    return this.#pending.size
  }

  /** Resolves true once everything tracked (including work started meanwhile) settled, false after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    const drained = (async (): Promise<true> => {
      while (this.#pending.size > 0) await Promise.all(this.#pending)
      return true
    })()
    try {
      return await Promise.race([drained, timedOut])
    } finally {
      clearTimeout(timer)
    }
  }
}
