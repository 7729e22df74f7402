/**
 * pgsteward against its peers repetition by repetition. Within a repetition every row ran
 * minutes apart at most, interleaved, so the machine's state (load from others, the server's)
 * is as close to shared as it gets; dividing within a repetition cancels what they share, and the
 * median of those ratios is what a target is judged on.
 */

export interface PairedRatios {
  /** Per repetition: the subject's figure over the reference's; null where either is missing. */
  ratios: (number | null)[]
  /** Per repetition: which peer was the reference (the best, or the one named). */
  reference: (string | null)[]
}

/**
 * Per repetition, `subject` over the best of `peers` in that same repetition. A peer's run that
 * failed or was not run (null, or no throughput) is not the best of anything; the subject's own
 * failure counts as what it is (0 ops/s, a ratio of 0); a repetition where the subject was not run,
 * or no peer completed, has no ratio.
 */
export function ratiosToBestPeer(subject: readonly (number | null)[], peers: ReadonlyMap<string, readonly (number | null)[]>): PairedRatios {
  const ratios: (number | null)[] = []
  const reference: (string | null)[] = []
  for (let r = 0; r < subject.length; r++) {
    let best: string | null = null
    let bestValue = 0
    for (const [label, values] of peers) {
      const value = values[r]
      if (value != null && value > bestValue) {
        best = label
        bestValue = value
      }
    }
    const own = subject[r]
    ratios.push(own == null || best === null ? null : own / bestValue)
    reference.push(best)
  }
  return { ratios, reference }
}

/** How often each peer was the best one: which peer a target is really against. */
export function countReferences(reference: readonly (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const label of reference) if (label !== null) counts[label] = (counts[label] ?? 0) + 1
  return counts
}
