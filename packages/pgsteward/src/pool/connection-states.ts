/**
 * The pool's connections as data: every slot is in exactly one state, each state's members are
 * in one named collection, and `move` is the only way a slot changes state.
 */
import { performance } from 'node:perf_hooks'
import type { PooledConnection, SlotState } from './pooled-connection.js'

/** States in which a slot is in someone's hands or being worked on: the process must stay alive meanwhile. */
const BUSY: ReadonlySet<SlotState> = new Set(['validating', 'exclusive', 'shared', 'resetting'])

export class ConnectionStates {
  readonly connecting = new Set<PooledConnection>()
  /** A stack: the most recently returned connection is lent first, so the rest can time out. */
  readonly idle: PooledConnection[] = []
  readonly validating = new Set<PooledConnection>()
  readonly exclusive = new Set<PooledConnection>()
  readonly shared = new Set<PooledConnection>()
  readonly resetting = new Set<PooledConnection>()

  /** Slots that hold (or are opening) a server connection. */
  get total(): number {
    return this.connecting.size + this.idle.length + this.validating.size + this.exclusive.size + this.shared.size + this.resetting.size
  }

  /** Lent or being prepared for lending or cleaned: neither idle nor connecting. */
  get inUse(): number {
    return this.validating.size + this.exclusive.size + this.shared.size + this.resetting.size
  }

  /** Called with true when the first slot leaves idle or connecting for lent/checked/cleaned, false when the last comes back. */
  onBusyChange: ((busy: boolean) => void) | undefined
  #busy = 0

  /** Move `conn` to `to`; `now` (performance.now()) saves the hot paths a second clock read. */
  move(conn: PooledConnection, to: SlotState, now = performance.now()): void {
    // A connection handed straight from its releaser to a queued waiter stays lent: no collection
    // changes. Only lent states: a new slot starts as 'connecting' before it is in any collection.
    if (conn.state === to && (to === 'exclusive' || to === 'shared')) {
      conn.since = now
      return
    }
    const wasBusy = BUSY.has(conn.state)
    this.#remove(conn)
    conn.state = to
    conn.since = now
    const isBusy = BUSY.has(to)
    if (wasBusy !== isBusy) {
      this.#busy += isBusy ? 1 : -1
      if (isBusy ? this.#busy === 1 : this.#busy === 0) this.onBusyChange?.(isBusy)
    }
    switch (to) {
      case 'connecting':
        this.connecting.add(conn)
        return
      case 'idle':
        this.idle.push(conn)
        return
      case 'validating':
        this.validating.add(conn)
        return
      case 'exclusive':
        this.exclusive.add(conn)
        return
      case 'shared':
        this.shared.add(conn)
        return
      case 'resetting':
        this.resetting.add(conn)
        return
      case 'closed':
    }
  }

  #remove(conn: PooledConnection): void {
    switch (conn.state) {
      case 'connecting':
        this.connecting.delete(conn)
        return
      case 'idle': {
        // The one being lent is nearly always the top of the stack.
        if (this.idle[this.idle.length - 1] === conn) {
          this.idle.pop()
          return
        }
        const index = this.idle.lastIndexOf(conn)
        if (index >= 0) this.idle.splice(index, 1)
        return
      }
      case 'validating':
        this.validating.delete(conn)
        return
      case 'exclusive':
        this.exclusive.delete(conn)
        return
      case 'shared':
        this.shared.delete(conn)
        return
      case 'resetting':
        this.resetting.delete(conn)
        return
      case 'closed':
    }
  }

  /** Every slot not closed. */
  *all(): IterableIterator<PooledConnection> {
    yield* this.connecting
    yield* this.idle
    yield* this.validating
    yield* this.exclusive
    yield* this.shared
    yield* this.resetting
  }
}
