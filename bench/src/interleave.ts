/**
 * The order the rows of a workload run in, repetition by repetition: A B C, then C B A, then
 * rotated by one (B C A, A C B), and so on. Over 2n repetitions each of n rows runs twice in every
 * position, and what runs just before each row keeps changing, so a slow drift of the machine
 * (another job starting, thermal limits) and the after-effects of one peer on the next (the
 * server's caches, a CPU still busy with the previous run's exit) fall on every peer alike.
 */
export function interleavedOrder<T>(items: readonly T[], repetition: number): T[] {
  if (!Number.isInteger(repetition) || repetition < 0) throw new RangeError(`repetition must be a whole number >= 0, got ${repetition}`)
  const n = items.length
  if (n <= 1) return [...items]
  const shift = Math.floor(repetition / 2) % n
  const rotated = [...items.slice(shift), ...items.slice(0, shift)]
  return repetition % 2 === 0 ? rotated : rotated.reverse()
}
