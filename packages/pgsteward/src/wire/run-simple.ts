/**
 * A statement the library itself runs on a connection (validation, rollback, reset, checks),
 * as a promise bounded in time: a connection that does not answer within `timeoutMs` is
 * destroyed, so no internal wait can outlive its deadline.
 */
import { Statement, type StatementOutcome } from './statement.js'
import type { StatementResult } from './result-builder.js'
import type { WireConnection } from './wire-connection.js'

export class NoAnswerError extends Error {}

/** Run `text` (simple protocol, no parameters) on `conn`; rejects with the server's error, the connection's loss, or NoAnswerError. */
export function runSimple(conn: WireConnection, text: string, timeoutMs: number): Promise<StatementResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.destroy(new NoAnswerError(`no answer to ${text || 'a round trip'} within ${timeoutMs} ms`))
    }, timeoutMs)
    timer.unref()
    conn.enqueue(
      new Statement(conn, { text, values: undefined, exclusive: false, effect: 'neutral', cache: false }, (outcome: StatementOutcome) => {
        clearTimeout(timer)
        if (outcome.error !== undefined) reject(outcome.error)
        else resolve((Array.isArray(outcome.result) ? outcome.result[outcome.result.length - 1] : outcome.result) as StatementResult)
      }),
    )
  })
}
