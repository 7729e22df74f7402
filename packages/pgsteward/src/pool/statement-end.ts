/** What observers hear of a finished statement, from its outcome on the wire. */
import { parseCommandTag } from '../wire/result-builder.js'
import type { StatementOutcome } from '../wire/statement.js'
import type { StatementEnd } from './instrumentation.js'

export function statementEnd(outcome: StatementOutcome, connectionId: number | undefined): StatementEnd {
  const result = Array.isArray(outcome.result) ? outcome.result[outcome.result.length - 1] : outcome.result
  return { error: outcome.error, rowCount: result?.rowCount ?? null, command: result?.command, connectionId }
}

/** What observers hear of a finished node-postgres submittable (the facade's queries), from its last command tag. */
export function submittableEnd(error: Error | undefined, tag: string | undefined, connectionId: number | undefined): StatementEnd {
  const parsed = error === undefined && tag !== undefined ? parseCommandTag(tag) : undefined
  return { error, rowCount: parsed?.rowCount ?? null, command: parsed?.command, connectionId }
}
