/**
 * Shutdown in order: when the app starts closing, requests in flight get a grace period to
 * finish. Work that waits on the client (an upload still arriving) listens to `signal`, which is
 * aborted when the grace is over: it stops, removes what it wrote and answers 503. Connections
 * still open a moment later are cut, so a stalled client cannot hold the shutdown forever.
 */
import type { FastifyInstance } from 'fastify'

/** After the grace period, how long answers already being sent get before connections are cut. */
const CUT_AFTER_MS = 2_000

export class ShutdownGate {
  readonly #controller = new AbortController()
  readonly #timers: NodeJS.Timeout[] = []

  /** Aborted when in-flight work should give up (the grace period is over). */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  begin(app: FastifyInstance, graceMs: number): void {
    if (this.#timers.length > 0) return
    this.#timers.push(setTimeout(() => this.#controller.abort(new Error('shutting down')), graceMs))
    this.#timers.push(setTimeout(() => app.server.closeAllConnections(), graceMs + CUT_AFTER_MS))
  }

  end(): void {
    for (const timer of this.#timers) clearTimeout(timer)
  }
}
