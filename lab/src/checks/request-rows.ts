/**
 * All-or-nothing per request: a request that reported success has all its rows, one that
 * failed has none. Rows are (request id, part) pairs.
 */
export function allOrNothing(outcomes: ReadonlyMap<number, boolean>, rows: readonly { request: number; part: string }[], parts: readonly string[]): string[] {
  const byRequest = new Map<number, Set<string>>()
  for (const r of rows) byRequest.set(r.request, (byRequest.get(r.request) ?? new Set()).add(r.part))
  let partial = 0
  let lost = 0
  let ghost = 0
  for (const [request, succeeded] of outcomes) {
    const present = byRequest.get(request) ?? new Set()
    if (succeeded && present.size === 0) lost++
    else if (succeeded && present.size < parts.length) partial++
    if (!succeeded && present.size > 0) ghost++
  }
  const out: string[] = []
  if (lost > 0) out.push(`${lost} request(s) reported success but none of their rows exist`)
  if (partial > 0) out.push(`${partial} request(s) reported success but only part of their rows exist`)
  if (ghost > 0) out.push(`${ghost} request(s) failed but rows of theirs were committed`)
  return out
}
