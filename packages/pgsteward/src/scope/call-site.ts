/**
 * Where a scope was opened or a connection acquired, for error messages that name the holder.
 * Capturing costs 7 to 20 µs on a loaded machine (V8 walks the stack and its async chain), as
 * much as a fifth of pgsteward's own work in a short transaction. So by default nothing is
 * captured until the database has raised its first ownership or pool error, and from then on
 * everything is: a healthy application pays nothing, and a faulty one names the culprit from the
 * second report on. `callSites: 'always'` captures from the start (tests, development), and leak
 * detection implies it, since a leak report without the acquirer is useless.
 */
export interface CallSite {
  readonly stack?: string
}

/** When scopes and checkouts record their call sites. */
export type CallSiteMode = 'always' | 'after-first-error'

const FRAMES = 6

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- V8's API takes any function as the frame boundary
export function captureCallSite(above: Function): CallSite {
  const site: { stack?: string } = {}
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = FRAMES
  Error.captureStackTrace(site, above)
  Error.stackTraceLimit = limit
  return site
}

/** One per database: whether call sites are recorded now. */
export class CallSiteRecorder {
  #recording: boolean

  constructor(mode: CallSiteMode, leakDetection: boolean) {
    this.#recording = mode === 'always' || leakDetection
  }

  /**
   * The stack from the caller of `above` (a few frames onto a plain object; V8 formats the text
   * only if it is ever read), or undefined while not recording.
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- V8's API takes any function as the frame boundary
  capture(above: Function): CallSite | undefined {
    return this.#recording ? captureCallSite(above) : undefined
  }

  /** An ownership or pool error was raised: every scope and checkout records its call site from now on. */
  startRecording(): void {
    this.#recording = true
  }
}
