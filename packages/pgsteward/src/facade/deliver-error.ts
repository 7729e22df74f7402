/** A submittable (query, cursor, stream) that never reached a connection still owes its consumer an error. */
export function deliverError(submittable: unknown, err: unknown): void {
  const target = submittable as { handleError?: (e: unknown) => void; destroy?: (e: unknown) => void; emit?: (n: string, e: unknown) => void }
  if (typeof target.destroy === 'function') target.destroy(err)
  else if (typeof target.handleError === 'function') target.handleError(err)
  else target.emit?.('error', err)
}
