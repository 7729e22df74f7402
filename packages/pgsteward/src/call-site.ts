/**
 * Where a scope was opened or a connection acquired, for error messages that name the holder.
 * Captured on every transaction, so it must be cheap: a few frames, onto a plain object, starting
 * at the caller of our public method (`above`); V8 formats the text only if it is ever read.
 * A full `new Error()` inside async code costs about 10 µs; this about a third of that.
 */
export interface CallSite {
  readonly stack?: string
}

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
