/**
 * Chat writes, one ordered stream per event: messages are stored in batches, one batch at a
 * time, and each batch is broadcast right after it is committed, in id order. Because commits
 * happen in id order, a reader's snapshot of chat_messages always holds every message up to
 * some id and nothing after it, and everything after it arrives live: that is what lets a
 * joining client stitch history and live messages together without gaps or duplicates.
 * (Ordering is per process: several instances would need the database to order their
 * broadcasts, e.g. LISTEN/NOTIFY.)
 *
 * The stream is a queue drained by one loop, not a lock: nothing inside the loop waits on the
 * queue itself, and sending is synchronous, so it cannot deadlock or stall on a client.
 */
import { AsyncResource } from 'node:async_hooks'
import type { Database } from 'pgsteward'
import { insertChatMessages, type NewChatMessage } from './event-store.ts'
import type { Hub } from './hub.ts'
import type { InflightWork } from './inflight.ts'

/** Rows per INSERT: bounds one statement's size while a burst is written in a few round trips. */
const MAX_BATCH = 500

interface Pending {
  message: NewChatMessage
  done: () => void
  failed: (err: unknown) => void
}

export class ChatRelay {
  readonly #db: Database
  readonly #hub: Hub
  readonly #inflight: InflightWork
  /** Messages waiting per event; an entry exists exactly while that event's writer runs. */
  readonly #queues = new Map<number, Pending[]>()
  // The writer runs in the context the relay was created in, so a post() made from inside some
  // transaction never has its INSERT join that transaction.
  readonly #startWriter: (eventId: number, queue: Pending[]) => void

  constructor(deps: { db: Database; hub: Hub; inflight: InflightWork }) {
    this.#db = deps.db
    this.#hub = deps.hub
    this.#inflight = deps.inflight
    this.#startWriter = AsyncResource.bind((eventId: number, queue: Pending[]) => {
      void this.#inflight.track(this.#write(eventId, queue))
    })
  }

  /** Resolves once the message is stored and broadcast to the event's room (sender included). */
  post(eventId: number, message: NewChatMessage): Promise<void> {
    return new Promise<void>((done, failed) => {
      const waiting = this.#queues.get(eventId)
      if (waiting !== undefined) {
        waiting.push({ message, done, failed })
        return
      }
      const queue: Pending[] = [{ message, done, failed }]
      this.#queues.set(eventId, queue)
      this.#startWriter(eventId, queue)
    })
  }

  async #write(eventId: number, queue: Pending[]): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, MAX_BATCH)
        try {
          const stored = await insertChatMessages(
            this.#db,
            eventId,
            batch.map((p) => p.message),
          )
          for (const message of stored) this.#hub.publishChat(eventId, message)
          for (const p of batch) p.done()
        } catch (err) {
          for (const p of batch) p.failed(err)
        }
      }
    } finally {
      // Removed in the same turn the queue was found empty: a later post() starts a new writer.
      this.#queues.delete(eventId)
    }
  }
}
