/**
 * One AbortSignal for a scope, combining the caller's `signal` and `timeoutMs`. Its reason is
 * always a pgsteward error: `AbortedError` carrying the caller's reason, or `ScopeTimeoutError`.
 */
import { AbortedError, ScopeTimeoutError } from '../errors/error-classes.js'

export class AbortScope {
  readonly #controller = new AbortController()
  readonly #timer: NodeJS.Timeout | undefined
  readonly #outer: AbortSignal | undefined
  readonly #onOuterAbort: (() => void) | undefined

  /** Undefined when neither a signal nor a timeout was given: nothing to watch. */
  static from(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortScope | undefined {
    if (signal === undefined && timeoutMs === undefined) return undefined
    return new AbortScope(signal, timeoutMs)
  }

  private constructor(signal: AbortSignal | undefined, timeoutMs: number | undefined) {
    if (signal !== undefined) {
      if (signal.aborted) this.#controller.abort(new AbortedError(signal.reason))
      else {
        this.#outer = signal
        this.#onOuterAbort = () => this.#controller.abort(new AbortedError(signal.reason))
        signal.addEventListener('abort', this.#onOuterAbort, { once: true })
      }
    }
    if (timeoutMs !== undefined && !this.#controller.signal.aborted) {
      this.#timer = setTimeout(() => this.#controller.abort(new ScopeTimeoutError(timeoutMs)), timeoutMs)
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  dispose(): void {
    clearTimeout(this.#timer)
    if (this.#onOuterAbort) this.#outer?.removeEventListener('abort', this.#onOuterAbort)
  }
}
