/**
 * A statement of pgsteward's own API on the wire. Parameterised statements go through the
 * extended protocol (Parse only when the connection has not prepared the text under its cache
 * name, then Bind, Describe, Execute, Sync); a transaction's BEGIN can ride in front of its first
 * statement in the same batch. The outcome is delivered at ReadyForQuery, so when the caller
 * hears of a failure the connection is already free for the next statement.
 */
import { markStatementCacheFailure, statementCacheFailure, type ServerError } from '../errors/map-error.js'
import type { WireValue } from './prepare-values.js'
import type { ProtocolSocket } from './protocol-socket.js'
import { ResultBuilder, type FieldDescription, type StatementResult, type TypeParsers } from './result-builder.js'
import type { StatementEffect } from './statement-effects.js'
import type { WireConnection } from './wire-connection.js'
import type { ServerMessage, TransactionStatus, WireEntry } from './wire-entry.js'

export interface StatementSpec {
  text: string
  /** Prepared values; empty or undefined sends the text with the simple protocol (several statements allowed). */
  values: readonly WireValue[] | undefined
  /** BEGIN ... to open a transaction in the same round trip. */
  begin?: string | undefined
  /** The text holds several statements: only the simple protocol carries it (BEGIN then goes in front of the text). */
  multiple?: boolean | undefined
  /** Wait for a quiet connection and keep it to itself (a statement that may be cancelled). */
  exclusive: boolean
  effect: StatementEffect
  /** Rows as arrays instead of objects. */
  asArray?: boolean | undefined
  types?: TypeParsers | undefined
  /** Prepare and reuse it under the statement cache's name. */
  cache: boolean
}

export interface StatementOutcome {
  /** The server's error, the connection's loss, or why it never ran; undefined on success. */
  error: Error | undefined
  /** One result, or one per statement when the text held several. */
  result: StatementResult | StatementResult[] | undefined
  /** The transaction status after it; undefined when the connection was lost. */
  status: TransactionStatus | undefined
  /** Whether any of it reached the socket (a COMMIT that never left cannot have committed). */
  written: boolean
}

export type StatementCallback = (outcome: StatementOutcome) => void

export class Statement implements WireEntry {
  readonly exclusive: boolean
  readonly #conn: WireConnection
  readonly #spec: StatementSpec
  readonly #done: StatementCallback
  #written = false
  /** Its cache name, when sent under one; '' when unnamed. */
  #name = ''
  #parsed = false
  /** The server confirmed the statement's Parse (ParseComplete): the name exists there now. */
  #parseConfirmed = false
  #uncached = false
  /** BEGIN's CommandComplete comes first and is not part of the statement's result. */
  #beginPending = false
  #current: ResultBuilder | undefined
  #results: ResultBuilder[] = []
  #error: ServerError | undefined
  #resent = false

  constructor(conn: WireConnection, spec: StatementSpec, done: StatementCallback) {
    this.exclusive = spec.exclusive
    this.#conn = conn
    this.#spec = spec
    this.#done = done
  }

  write(socket: ProtocolSocket): void {
    this.#written = true
    const { text, values, begin, effect } = this.#spec
    if (effect === 'session') this.#conn.sessionDirty = true
    const noValues = values === undefined || values.length === 0
    if (noValues && begin === undefined) {
      socket.query(text)
      return
    }
    if (noValues && this.#spec.multiple === true) {
      // Several statements: one simple query, BEGIN first; if BEGIN fails the server runs none of the rest.
      this.#beginPending = true
      socket.query(`${begin as string};\n${text}`)
      return
    }
    if (begin !== undefined) {
      this.#beginPending = true
      socket.parse({ text: begin })
      socket.bind({})
      socket.execute({})
    }
    this.#name = ''
    this.#parsed = true
    this.#parseConfirmed = false
    if (this.#spec.cache && !this.#uncached && values !== undefined && values.length > 0) {
      const cached = this.#conn.prepared.lookup(text)
      if (cached !== undefined) {
        this.#name = cached.name
        this.#parsed = cached.parse
      }
    }
    if (this.#parsed) socket.parse({ text, name: this.#name })
    socket.bind({ statement: this.#name, values: values as unknown[] | undefined })
    socket.describe({ type: 'P' })
    socket.execute({})
    socket.sync()
  }

  message(message: ServerMessage, socket: ProtocolSocket): void {
    switch (message.name) {
      case 'parseComplete':
        // Under a BEGIN the first ParseComplete is BEGIN's; the statement's comes last.
        if (this.#name !== '' && this.#parsed && !this.#beginPending) {
          this.#parseConfirmed = true
          this.#conn.prepared.confirm(this.#name)
        }
        return
      case 'rowDescription':
        this.#current = new ResultBuilder(this.#spec.asArray === true, this.#spec.types)
        this.#current.describe(message.fields as FieldDescription[])
        return
      case 'dataRow':
        this.#current?.addRow(message.fields as (string | null)[])
        return
      case 'commandComplete': {
        if (this.#beginPending) {
          this.#beginPending = false
          return
        }
        const result = this.#current ?? new ResultBuilder(this.#spec.asArray === true, this.#spec.types)
        result.complete(message.text as string)
        this.#results.push(result)
        this.#current = undefined
        return
      }
      case 'emptyQuery':
        this.#results.push(new ResultBuilder(this.#spec.asArray === true, this.#spec.types))
        return
      case 'copyInResponse':
        // COPY ... FROM STDIN needs a data stream: the pg facade with pg-copy-streams has one; db.query does not.
        socket.sendCopyFail('COPY FROM STDIN is not supported through db.query: use db.asPgPool() with pg-copy-streams')
        return
      default:
      // bindComplete, noData, copyOutResponse, copyData, copyDone: nothing to keep.
    }
  }

  error(err: ServerError): void {
    this.#error ??= err
    if (this.#name === '') return
    const failure = statementCacheFailure(err)
    if (failure === 'stale-plan') this.#conn.prepared.renew(this.#spec.text, this.#name)
    else if (failure === 'duplicate') {
      this.#conn.prepared.forget(this.#name)
      this.#uncached = true
    } else if (failure === 'missing' || (this.#parsed && !this.#parseConfirmed)) this.#conn.prepared.forget(this.#name)
    if (failure !== undefined) markStatementCacheFailure(err)
  }

  ready(status: TransactionStatus): void {
    const err = this.#error
    if (err !== undefined && this.#name !== '' && statementCacheFailure(err) !== undefined && this.#resendable(status)) {
      // Refused at Parse or Bind because of the cache: nothing ran. Send it again, before anything queued after it.
      this.#resent = true
      this.#error = undefined
      this.#results = []
      this.#current = undefined
      this.#conn.requeueFirst(this)
      return
    }
    const results = this.#results
    const result = results.length === 1 ? results[0] : results.length === 0 ? new ResultBuilder(false, undefined) : results
    this.#done({ error: err, result: err === undefined ? result : undefined, status, written: true })
  }

  /** Outside a transaction, with nothing of anyone's written after it, a refused statement can be sent again unseen (once). */
  #resendable(status: TransactionStatus): boolean {
    return !this.#resent && this.#spec.begin === undefined && status === 'I' && this.#conn.inFlight === 0
  }

  fail(err: Error, written: boolean): void {
    this.#done({ error: this.#error ?? err, result: undefined, status: undefined, written: written || this.#written })
  }
}
