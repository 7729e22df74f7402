/**
 * Where statements, waits for a connection and transactions announce themselves, for the
 * `query` event, OpenTelemetry and the dashboard. Nothing is measured while nobody listens: each
 * hook first asks `active`, one boolean, and the hot paths skip everything else when it is false.
 */
import { performance } from 'node:perf_hooks'

/** Which kind of caller ran a statement. */
export type StatementScope = 'one-shot' | 'session' | 'transaction' | 'checkout'

export interface StatementStart {
  /** The SQL text with `$n` placeholders: values are never passed to observers. */
  text: string
  scope: StatementScope
  /** Through pgsteward's own API, or through the pg.Pool facade (Kysely, Drizzle, pg code). */
  via: 'pgsteward' | 'pg-facade'
  /** The connection, when known at the start: on a scope's or checkout's lease; one-shot statements learn theirs when lent one. */
  connectionId?: number | undefined
}

export interface StatementEnd {
  error: Error | undefined
  rowCount: number | null
  command: string | undefined
  connectionId: number | undefined
}

export interface AcquireStart {
  kind: 'exclusive' | 'shared'
}

export interface AcquireEnd {
  error: Error | undefined
  connectionId: number | undefined
}

export interface TransactionStart {
  isolation: string | undefined
  readOnly: boolean
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: number
  /** The connection the transaction runs on: its statements report the same `connectionId`. */
  connectionId: number
}

export interface TransactionEnd {
  error: unknown
  committed: boolean
  /** The attempt failed with an error the transaction is re-run for. */
  willRetry: boolean
}

/** Something that watches the pool's work: each method may return the function that hears how it ended. */
export interface Observer {
  statement?(start: StatementStart, startedAt: number): ((end: StatementEnd, endedAt: number) => void) | undefined
  acquire?(start: AcquireStart, startedAt: number): ((end: AcquireEnd, endedAt: number) => void) | undefined
  transaction?(start: TransactionStart, startedAt: number): ((end: TransactionEnd, endedAt: number) => void) | undefined
  /**
   * Run the callback of the transaction attempt open on `connectionId` inside the observer's own
   * context (OpenTelemetry makes the attempt's span active), so work the callback starts is seen
   * as part of the attempt. Must call `body` once and return what it returns.
   */
  insideTransaction?<T>(connectionId: number, body: () => T): T
}

type Finish<E> = (end: E) => void

export class Instrumentation {
  readonly #observers: Observer[] = []
  /** Whether anyone observes: checked first on every hot path. */
  active = false

  add(observer: Observer): () => void {
    this.#observers.push(observer)
    this.active = true
    return () => {
      const index = this.#observers.indexOf(observer)
      if (index >= 0) this.#observers.splice(index, 1)
      this.active = this.#observers.length > 0
    }
  }

  #start<S, E>(begin: (o: Observer, start: S, at: number) => ((end: E, at: number) => void) | undefined, start: S): Finish<E> | undefined {
    const at = performance.now()
    const ends: ((end: E, at: number) => void)[] = []
    for (const observer of this.#observers) {
      try {
        const end = begin(observer, start, at)
        if (end !== undefined) ends.push(end)
      } catch {
        // An observer's failure never changes the work it observed.
      }
    }
    if (ends.length === 0) return undefined
    return (end) => {
      const endedAt = performance.now()
      for (const finish of ends) {
        try {
          finish(end, endedAt)
        } catch {
          // An observer's failure never changes the work it observed.
        }
      }
    }
  }

  statement(start: StatementStart): Finish<StatementEnd> | undefined {
    return this.active ? this.#start((o, s: StatementStart, at) => o.statement?.(s, at), start) : undefined
  }

  acquire(start: AcquireStart): Finish<AcquireEnd> | undefined {
    return this.active ? this.#start((o, s: AcquireStart, at) => o.acquire?.(s, at), start) : undefined
  }

  transaction(start: TransactionStart): Finish<TransactionEnd> | undefined {
    return this.active ? this.#start((o, s: TransactionStart, at) => o.transaction?.(s, at), start) : undefined
  }

  /** Run a transaction attempt's callback inside every observer's context; `body` runs exactly once whatever an observer does. */
  insideTransaction<T>(connectionId: number, body: () => T): T {
    let run = body
    for (const observer of this.#observers) {
      if (observer.insideTransaction === undefined) continue
      const inner = run
      run = () => {
        // An object, not locals: the state changes inside `once`, where the compiler's narrowing cannot follow.
        const outcome: { state: 'not run' | 'returned' | 'threw'; result: T | undefined } = { state: 'not run', result: undefined }
        const once = (): T => {
          try {
            outcome.result = inner()
            outcome.state = 'returned'
            return outcome.result
          } catch (err) {
            outcome.state = 'threw'
            throw err
          }
        }
        try {
          // Checked above: only observers with the method are wrapped.
          return observer.insideTransaction?.(connectionId, once) as T
        } catch (err) {
          // The body's own failure stands; an observer's failure never changes the work it observed.
          if (outcome.state === 'threw') throw err
          return outcome.state === 'returned' ? (outcome.result as T) : inner()
        }
      }
    }
    return run()
  }
}
