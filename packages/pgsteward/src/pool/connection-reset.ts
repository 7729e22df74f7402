/**
 * Cleaning a returned connection. Whatever its holder left behind (statements queued or still
 * running, an open transaction, changed session state) is undone within a grace period; what
 * cannot be undone in time makes the connection unclean, and the pool destroys it. What happens
 * to the connection afterwards is the pool's decision, not this module's.
 */
import { performance } from 'node:perf_hooks'
import { AbortedError } from '../errors/error-classes.js'
import { runSimple } from '../wire/run-simple.js'
import type { WireConnection } from '../wire/wire-connection.js'

/**
 * Bring `wire` back to a quiet, idle, clean session within `graceMs`. Resolves true when it is
 * fit to lend again, false when it must be destroyed; never rejects.
 */
export async function resetConnection(wire: WireConnection, graceMs: number, pooler: 'none' | 'transaction'): Promise<boolean> {
  if (wire.queued > 0) wire.dropQueued(new AbortedError('the connection was returned to the pool'))
  try {
    if (!wire.quiet && !(await cancelUntilQuiet(wire, graceMs))) return false
    const steps: Promise<unknown>[] = []
    if (wire.transactionStatus !== 'I') steps.push(runSimple(wire, 'ROLLBACK', graceMs))
    if (wire.sessionDirty) {
      // Behind a transaction-mode pooler no session state outlives the transaction; DISCARD ALL would only reach some other client's backend.
      if (pooler === 'none') steps.push(runSimple(wire, 'DISCARD ALL', graceMs))
      wire.prepared.clear()
      wire.socket.parsedStatements = {}
      if (wire.socket.submittedNamedStatements) wire.socket.submittedNamedStatements = {}
    }
    // ROLLBACK and DISCARD ALL go out together: one round trip.
    await Promise.all(steps)
    wire.sessionDirty = false
    return !wire.closed && wire.quiet && wire.transactionStatus === 'I'
  } catch {
    return false
  }
}

/**
 * Cancel what a connection is running and wait for it to go quiet, within `graceMs`. A
 * CancelRequest that reaches the server before the statement started is ignored, so it is sent
 * again while something is still in flight.
 */
async function cancelUntilQuiet(wire: WireConnection, graceMs: number): Promise<boolean> {
  const deadline = performance.now() + graceMs
  for (;;) {
    const left = deadline - performance.now()
    if (left <= 0) return false
    if (wire.inFlight > 0) await wire.cancel(left)
    if (await wire.whenQuiet(Math.min(left, 100))) return true
    if (wire.closed) return false
  }
}
