/**
 * A facade client checked out inside a `db.transaction` callback: instead of a second
 * connection (whose rows would survive the outer rollback, and which would wait on the outer
 * transaction's locks), it is the transaction's own connection. The transaction control that
 * Kysely, Drizzle and hand-written `pg` code send becomes savepoints: BEGIN opens one, COMMIT
 * releases it, ROLLBACK rolls back to it, so their work commits and rolls back with the outer
 * transaction and sees its uncommitted rows. A COMMIT or ROLLBACK with no BEGIN of its own is
 * refused: it would end the outer transaction early.
 */
import { MisuseError } from '../errors/error-classes.js'
import type { Scope } from '../scope/scope.js'
import type { ClientLink } from './pg-client-facade.js'

let joinedCounter = 0

type Control = 'begin' | 'commit' | 'rollback' | undefined

/** BEGIN / START TRANSACTION, COMMIT / END, ROLLBACK / ABORT (not ROLLBACK TO SAVEPOINT). */
function transactionControl(text: string): Control {
  const words = text
    .replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' ')
    .trim()
    .replace(/;\s*$/, '')
    .toLowerCase()
    .split(/\s+/)
  const [first, second] = words
  if (first === 'begin' || (first === 'start' && second === 'transaction')) return 'begin'
  if (first === 'commit' || first === 'end') return second === 'prepared' ? undefined : 'commit'
  if (first === 'rollback' || first === 'abort') return second === 'to' || second === 'prepared' ? undefined : 'rollback'
  return undefined
}

export function joinedTransactionLink(scope: Scope): ClientLink {
  const open: string[] = []
  const lease = scope.lease
  return {
    wire: lease.wire,
    submit: (query, exclusive, effect, settled) => scope.submitRaw(query, exclusive, effect, settled),
    translate(text) {
      const control = transactionControl(text)
      if (control === 'begin') {
        const name = `pgsteward_joined_${++joinedCounter}`
        open.push(name)
        return `SAVEPOINT ${name}`
      }
      if (control === undefined) return text
      const name = open.pop()
      if (name === undefined) {
        return new MisuseError(
          `${control.toUpperCase()} on a client checked out inside db.transaction would end the outer transaction early: ` +
            'it was refused. Let the outer transaction commit or roll back, or check out the client outside db.transaction.',
        )
      }
      return control === 'commit' ? `RELEASE SAVEPOINT ${name}` : `ROLLBACK TO SAVEPOINT ${name}`
    },
    release() {
      // Savepoints the client left open are rolled back: its unfinished work must not commit with the outer transaction.
      for (const name of open.splice(0).reverse()) {
        void lease.execute({ text: `ROLLBACK TO SAVEPOINT ${name}`, values: undefined })
      }
    },
  }
}
