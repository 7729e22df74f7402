/**
 * A facade client checked out inside a `db.transaction` callback: instead of a second
 * connection (whose rows would survive the outer rollback, and which would wait on the outer
 * transaction's locks), it is the transaction's own connection. The transaction control that
 * Kysely, Drizzle and hand-written `pg` code send becomes savepoints: BEGIN opens one, COMMIT
 * releases it, ROLLBACK rolls back to it, so their work commits and rolls back with the outer
 * transaction and sees its uncommitted rows. Nothing sent through the facade can end the outer
 * transaction: a COMMIT or ROLLBACK with no BEGIN of its own, transaction control hidden in a
 * string of several statements, two-phase commit and `AND CHAIN` are refused, and so is a BEGIN
 * asking for an isolation level or access mode a savepoint cannot have.
 */
import { MisuseError } from '../errors/error-classes.js'
import type { Scope } from '../scope/scope.js'
import { statementHeads } from '../wire/statement-effects.js'
import type { ClientLink } from './pg-client-facade.js'

let joinedCounter = 0

type Control = { kind: 'begin'; modes: boolean } | { kind: 'commit' | 'rollback' } | { kind: 'refused'; what: string } | undefined

/** BEGIN / START TRANSACTION, COMMIT / END, ROLLBACK / ABORT (not ROLLBACK TO SAVEPOINT), in one statement's first words. */
function controlOf(words: readonly string[]): Control {
  const [first, second] = words
  const noise = (w: string | undefined): boolean => w === undefined || w === 'work' || w === 'transaction'
  if (first === 'begin') return { kind: 'begin', modes: !(noise(second) && words.length <= 2) }
  if (first === 'start' && second === 'transaction') return { kind: 'begin', modes: words.length > 2 }
  if (first === 'prepare' && second === 'transaction') return { kind: 'refused', what: 'PREPARE TRANSACTION (two-phase commit)' }
  if (first === 'commit' || first === 'end' || first === 'rollback' || first === 'abort') {
    if (second === 'prepared') return { kind: 'refused', what: `${first.toUpperCase()} PREPARED (two-phase commit)` }
    if (first === 'rollback' && second === 'to') return undefined
    if (words.includes('chain') && !words.includes('no')) return { kind: 'refused', what: `${first.toUpperCase()} AND CHAIN` }
    return { kind: first === 'commit' || first === 'end' ? 'commit' : 'rollback' }
  }
  return undefined
}

/** The transaction control in `text`: several statements holding any is refused, since they cannot be rewritten one by one. */
export function transactionControl(text: string): Control {
  const heads = statementHeads(text)
  // Unreadable to its end (an unterminated quote): the server refuses it.
  if (heads === undefined || heads.length === 0) return undefined
  if (heads.length === 1) return controlOf(heads[0] as string[])
  if (heads.some((words) => controlOf(words) !== undefined)) return { kind: 'refused', what: 'transaction control inside a string of several statements' }
  return undefined
}

const OUTER = 'inside db.transaction'

/** Why `pool.query` inside a transaction may not run `text` (transaction control, which has no client to pair BEGIN with COMMIT), if so. */
export function refuseInTransaction(text: string): MisuseError | undefined {
  const control = transactionControl(text)
  if (control === undefined) return undefined
  return new MisuseError(
    `pool.query ${OUTER} refused ${control.kind === 'refused' ? control.what : control.kind.toUpperCase()}: it would act on the outer transaction. ` +
      'Check out a client with pool.connect() (its BEGIN, COMMIT and ROLLBACK become savepoints), or use tx.transaction().',
  )
}

export function joinedTransactionLink(scope: Scope): ClientLink {
  const open: string[] = []
  const lease = scope.lease
  return {
    wire: lease.wire,
    joined: true,
    submit: (query, exclusive, effect, settled) => scope.submitRaw(query, exclusive, effect, settled),
    translate(text) {
      const control = transactionControl(text)
      if (control === undefined) return text
      if (control.kind === 'refused') {
        return new MisuseError(`${control.what} on a client checked out ${OUTER} was refused: it would end or escape the outer transaction.`)
      }
      if (control.kind === 'begin') {
        if (control.modes) {
          return new MisuseError(
            `A transaction started on a client checked out ${OUTER} is a savepoint of the outer transaction and cannot take an isolation level or access mode: ` +
              'set isolation and readOnly on the outer db.transaction.',
          )
        }
        const name = `pgsteward_joined_${++joinedCounter}`
        open.push(name)
        return `SAVEPOINT ${name}`
      }
      const name = open.pop()
      if (name === undefined) {
        return new MisuseError(
          `${control.kind.toUpperCase()} on a client checked out ${OUTER} would end the outer transaction early: ` +
            'it was refused. Let the outer transaction commit or roll back, or check out the client outside db.transaction.',
        )
      }
      return control.kind === 'commit' ? `RELEASE SAVEPOINT ${name}` : `ROLLBACK TO SAVEPOINT ${name}`
    },
    release() {
      // Savepoints the client left open are rolled back: its unfinished work must not commit with the outer transaction.
      for (const name of open.splice(0).reverse()) {
        void lease.execute({ text: `ROLLBACK TO SAVEPOINT ${name}`, values: undefined })
      }
    },
  }
}
