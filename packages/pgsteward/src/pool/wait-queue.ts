/**
 * First-come-first-served queue of pool waiters. A waiter that gives up (timeout, abort) is only
 * marked settled and skipped when it reaches the head, so leaving the queue is O(1) and the
 * order of everyone else is untouched.
 */
export interface Waitable {
  settled: boolean
}

export class WaitQueue<T extends Waitable> {
  #items: (T | undefined)[] = []
  #head = 0
  #live = 0

  /** Waiters still waiting (settled ones excluded). */
  get size(): number {
    return this.#live
  }

  push(item: T): void {
    this.#items.push(item)
    this.#live++
  }

  /** Call when a queued waiter settles on its own (timeout or abort). */
  forget(): void {
    this.#live--
  }

  /** Put a waiter back at the head (one whose connection failed validation keeps its place). */
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item
    else this.#items.unshift(item)
    this.#live++
  }

  /** The oldest waiter still waiting, left in the queue. */
  peek(): T | undefined {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]
      if (item !== undefined && !item.settled) return item
    }
    return undefined
  }

  /** Remove and return the oldest waiter still waiting. */
  shift(): T | undefined {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head]
      this.#items[this.#head++] = undefined
      if (item !== undefined && !item.settled) {
        this.#live--
        this.#compact()
        return item
      }
    }
    this.#compact()
    return undefined
  }

  /** Visit waiters still waiting, oldest first, while `visit` returns true. */
  visit(visit: (item: T) => boolean): void {
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]
      if (item !== undefined && !item.settled && !visit(item)) return
    }
  }

  /** Every waiter still waiting, oldest first, emptying the queue. */
  drain(): T[] {
    const rest = this.#items.slice(this.#head).filter((w): w is T => w !== undefined && !w.settled)
    this.#items = []
    this.#head = 0
    this.#live = 0
    return rest
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items.length = 0
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
  }
}
