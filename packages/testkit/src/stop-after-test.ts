/**
 * The node:test `after` hook that stops what a testkit function started. node:test finds the test
 * a hook belongs to from the current async context, and that context can be lost on the way: an
 * `await` on a promise created during another test resumes in that other test's context (seen
 * with a cached promise), and a hook registered there never runs. So the hook is registered
 * synchronously, when the function is called, and learns later what to stop.
 */
import { after } from 'node:test'

/**
 * Call first thing, before any `await`. Returns the setter for the stop function; until it is
 * set (start-up failed half-way, and cleaned up after itself), the hook does nothing.
 */
export function stopAfterTest(enabled: boolean | undefined): (stop: () => Promise<void>) => void {
  let stop: (() => Promise<void>) | undefined
  if (enabled !== false) after(() => stop?.())
  return (s) => {
    stop = s
  }
}
