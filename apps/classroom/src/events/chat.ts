/**
 * Chat writes, one ordered stream per event: messages are stored in batches, one batch at a
 * time, and each batch is broadcast right after it is committed, in id order. Because commits
 * happen in id order, a reader's snapshot of chat_messages always holds every message up to
 * some id and nothing after it, and everything after it arrives live: that is what lets a
 * joining client stitch history and live messages together without gaps or duplicates.
 * Across instances the database orders them (each insert holds the event's row lock until it
 * commits) and the live feed delivers them: a batch is handed to the feed once committed, and
 * its senders are answered once the feed gave it to the room.
 *
 * The stream is a queue drained by one loop, not a lock: nothing inside the loop waits on the
 * queue itself, and sending is synchronous, so it cannot deadlock or stall on a client.
 *
 * One bad message fails alone: when a batch's INSERT fails for something a message carries
 * (a value its column refuses), the batch is written again one message at a time, so the others
 * are stored and only the bad one is answered with an error. A fault of the database itself
 * (unreachable, restarting) fails the batch: retrying each message would only multiply it.
 */
import { AsyncResource } from 'node:async_hooks'
import { DatabaseError, type Database } from 'pgsteward'
import { insertChatMessages, type NewChatMessage } from './event-store.ts'
import type { InflightWork } from './inflight.ts'
import type { LiveFeed } from './live-feed.ts'

/** Rows per INSERT: bounds one statement's size while a burst is written in a few round trips. */
const MAX_BATCH = 500

interface Pending {
  message: NewChatMessage
  done: () => void
  failed: (err: unknown) => void
}

/**
 * Whether the statement failed for a value it carried (SQLSTATE class 22: data exception, e.g.
 * a NUL character or invalid text; class 23: a row it names is gone), not for the database.
 */
function isCausedByData(err: unknown): boolean {
  return err instanceof DatabaseError && (err.sqlState.startsWith('22') || err.sqlState.startsWith('23'))
}

export class ChatRelay {
  readonly #db: Database
  readonly #feed: LiveFeed
  readonly #inflight: InflightWork
  /** Messages waiting per event; an entry exists exactly while that event's writer runs. */
  readonly #queues = new Map<number, Pending[]>()
  // The writer runs in the context the relay was created in, so a post() made from inside some
  // transaction never has its INSERT join that transaction.
  readonly #startWriter: (eventId: number, queue: Pending[]) => void

  constructor(deps: { db: Database; feed: LiveFeed; inflight: InflightWork }) {
    this.#db = deps.db
    this.#feed = deps.feed
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

  /** Insert; once the feed handed the batch to the room (in id order), resolve each message's sender. */
  async #store(eventId: number, batch: Pending[]): Promise<void> {
    const stored = await insertChatMessages(
      this.#db,
      eventId,
      batch.map((p) => p.message),
    )
    const last = stored.at(-1)?.id ?? 0
    // Not awaited: the next batch is written while this one is read back and sent.
    void this.#inflight.track(this.#feed.delivered(eventId, last).then(() => batch.forEach((p) => p.done())))
  }

  async #write(eventId: number, queue: Pending[]): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, MAX_BATCH)
        try {
          await this.#store(eventId, batch)
        } catch (err) {
          if (batch.length === 1 || !isCausedByData(err)) {
            for (const p of batch) p.failed(err)
            continue
          }
          // Ids are still given in order: one message at a time, each committed before the next.
          for (const p of batch) await this.#store(eventId, [p]).catch((singleErr: unknown) => p.failed(singleErr))
        }
      }
    } finally {
      // Removed in the same turn the queue was found empty: a later post() starts a new writer.
      this.#queues.delete(eventId)
    }
  }
}
