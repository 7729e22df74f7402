/**
 * Failed attempts to open connections, and the backoff between them. A server that is restarting
 * or failing over comes back within milliseconds to seconds: retries are short, jittered and
 * exponential (5 ms doubling up to 100 ms), so service resumes soon after it is back, without a
 * thundering herd of pools hitting it at the same instant.
 */
import { ConnectionError } from '../errors/error-classes.js'
import { messages } from '../errors/error-messages.js'
import { sqlStateOf } from '../errors/map-error.js'

export class ConnectAttempts {
  /** Consecutive failures since the last connection that opened. */
  failures = 0
  #lastError: unknown
  #retryTimer: NodeJS.Timeout | undefined

  /** A connection opened: the server is back. */
  succeeded(): void {
    this.failures = 0
  }

  failed(err: unknown): void {
    this.failures++
    this.#lastError = err
  }

  /** The last failure, while connecting keeps failing; undefined once one succeeds. */
  get lastError(): unknown {
    return this.failures > 0 ? this.#lastError : undefined
  }

  /** A retry is scheduled: opening more now would only hit the same wall. */
  get backingOff(): boolean {
    return this.#retryTimer !== undefined
  }

  /** Call `retry` after the backoff for the failures so far (once, however often asked meanwhile). */
  retryLater(retry: () => void): void {
    if (this.#retryTimer !== undefined) return
    const delay = Math.min(100, 5 * 2 ** Math.min(this.failures - 1, 10)) * (0.5 + Math.random() / 2)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      retry()
    }, delay)
    this.#retryTimer.unref()
  }

  stop(): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
  }

  /** The error callers see while the server cannot be reached: where, why, and how many attempts failed. */
  error(cause: unknown, server: string): ConnectionError {
    const reason = cause instanceof Error ? cause.message : String(cause)
    return new ConnectionError(messages.connectFailed(server, reason, this.failures), cause, sqlStateOf(cause))
  }
}
