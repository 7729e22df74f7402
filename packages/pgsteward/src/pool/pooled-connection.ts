/**
 * A pool slot: one server connection (or one being opened) and what the pool records about it.
 * Its `state` and the timestamps that go with it are changed only by `ConnectionStates.move`;
 * the rest is written only by the pool, in pool.ts.
 */
import type { CallSite } from '../scope/call-site.js'
import type { WireConnection } from '../wire/wire-connection.js'

export type SlotState = 'connecting' | 'idle' | 'validating' | 'exclusive' | 'shared' | 'resetting' | 'closed'

let nextSlotId = 1

export class PooledConnection {
  readonly id = nextSlotId++
  /** Undefined while connecting. */
  wire: WireConnection | undefined
  state: SlotState = 'connecting'
  /** performance.now() when it entered its current state. */
  since = 0
  /** When it must be retired (max lifetime, with jitter). */
  retireAt = Infinity
  /** Where its holder acquired it, when recorded (leak detection, sessions). */
  acquiredAt: CallSite | undefined
  leakTimer: NodeJS.Timeout | undefined
  leaked = false
  /** One-shot statements of different callers in flight on it while `shared`. */
  sharedCount = 0
  /** It reached a server that no longer fits `target_session_attrs` (a demoted primary): never lend it again. */
  wrongServer = false
  /** Another connection of the pool was lost while this one sat idle: check it before lending it. */
  suspect = false
}
