/**
 * Leaderboard broadcasts, coalesced per event: however many scores change at once, a room gets
 * at most one leaderboard per interval, read from the database after the changes it follows, so
 * the last one sent is always the current state. 50 students answering together cost one read
 * and 50 sends, not 50 reads and 2,500 sends.
 */
import { AsyncResource } from 'node:async_hooks'
import type { FastifyBaseLogger } from 'fastify'
import type { Database } from 'pgsteward'
import { readLeaderboard } from './event-store.ts'
import type { Hub } from './hub.ts'
import type { InflightWork } from './inflight.ts'

interface EventState {
  /** Something changed that the next read has to include. */
  dirty: boolean
  /** A read is running; changes meanwhile set `dirty` and get their own read after it. */
  reading: boolean
  /** Either the first read about to start, or the pause after a read that spaces them out. */
  timer: NodeJS.Timeout | undefined
  /** The last read failed: pause longer, so a database outage is not hammered (nor logged) 20 times a second. */
  failed: boolean
}

const PAUSE_AFTER_FAILURE_MS = 1_000

export class LeaderboardPublisher {
  readonly #db: Database
  readonly #hub: Hub
  readonly #inflight: InflightWork
  readonly #log: FastifyBaseLogger
  readonly #intervalMs: number
  readonly #events = new Map<number, EventState>()
  // Timers run in the context this publisher was created in, never in the caller's: a
  // schedule() made inside a transaction must not have the later read join that (finished)
  // transaction through its async context.
  readonly #fire: (eventId: number) => void
  #stopped = false

  constructor(deps: { db: Database; hub: Hub; inflight: InflightWork; log: FastifyBaseLogger; intervalMs: number }) {
    this.#db = deps.db
    this.#hub = deps.hub
    this.#inflight = deps.inflight
    this.#log = deps.log
    this.#intervalMs = deps.intervalMs
    this.#fire = AsyncResource.bind((eventId: number) => this.#onTimer(eventId))
  }

  /** The event's scores or participants changed: its room will get the new leaderboard. */
  schedule(eventId: number): void {
    if (this.#stopped) return
    let state = this.#events.get(eventId)
    if (state === undefined) {
      state = { dirty: false, reading: false, timer: undefined, failed: false }
      this.#events.set(eventId, state)
    }
    state.dirty = true
    // Idle: read on the next turn, so changes made in this one share it.
    if (state.timer === undefined && !state.reading) state.timer = setTimeout(this.#fire, 0, eventId)
  }

  /** No further reads; timers cleared. Reads already running finish (tracked by `inflight`). */
  stop(): void {
    this.#stopped = true
    for (const state of this.#events.values()) clearTimeout(state.timer)
    this.#events.clear()
  }

  #onTimer(eventId: number): void {
    const state = this.#events.get(eventId)
    if (state === undefined) return
    state.timer = undefined
    // Nothing changed since the last read, or nobody is listening: forget the event.
    if (!state.dirty || this.#stopped || this.#hub.roomSize(eventId) === 0) {
      this.#events.delete(eventId)
      return
    }
    state.dirty = false
    state.reading = true
    const read = readLeaderboard(this.#db, eventId).then(
      (leaderboard) => {
        state.failed = false
        this.#hub.publishLeaderboard(eventId, leaderboard)
      },
      (err: unknown) => {
        this.#log.error({ err, eventId }, 'leaderboard read failed')
        // Leave it dirty so the next attempt (after the pause) sends what this one could not.
        state.dirty = true
        state.failed = true
      },
    )
    void this.#inflight.track(
      read.finally(() => {
        state.reading = false
        if (this.#stopped || this.#events.get(eventId) !== state) return
        // The pause spaces broadcasts out; when it ends, a read runs only if something changed.
        state.timer = setTimeout(this.#fire, state.failed ? PAUSE_AFTER_FAILURE_MS : this.#intervalMs, eventId)
      }),
    )
  }
}
