/** What observers hear of a finished statement, from its outcome on the wire. */
import type { StatementOutcome } from '../wire/statement.js'
import type { StatementEnd } from './instrumentation.js'

export function statementEnd(outcome: StatementOutcome, connectionId: number | undefined): StatementEnd {
  const result = Array.isArray(outcome.result) ? outcome.result[outcome.result.length - 1] : outcome.result
  return { error: outcome.error, rowCount: result?.rowCount ?? null, command: result?.command, connectionId }
}
