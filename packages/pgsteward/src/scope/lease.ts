/**
 * A lease: one connection borrowed exclusively for a session, a transaction tree or a facade
 * checkout, and everything that runs on it. Statements are written in call order (several may
 * be in flight at once); nothing new reaches the connection after the lease was aborted or
 * returned: work the owner starts late gets the abort error (or `SessionClosedError`).
 */
import type { AbortedError } from '../errors/error-classes.js'
import { SessionClosedError } from '../errors/error-classes.js'
import type { Pool } from '../pool/pool.js'
import { statementEnd, submittableEnd } from '../pool/statement-end.js'
import type { StatementScope } from '../pool/instrumentation.js'
import type { PooledConnection } from '../pool/pooled-connection.js'
import type { CallSite } from './call-site.js'
import type { WireValue } from '../wire/prepare-values.js'
import type { TypeParsers } from '../wire/result-builder.js'
import { analyzeStatement, type StatementEffect } from '../wire/statement-effects.js'
import { Statement, type StatementOutcome } from '../wire/statement.js'
import { SubmittableEntry, type DriverSubmittable } from '../wire/submittable-entry.js'
import type { WireConnection } from '../wire/wire-connection.js'

export type LeaseKind = 'session' | 'transaction' | 'checkout'

export interface StatementRequest {
  text: string
  values: readonly WireValue[] | undefined
  /** Write it only on a quiet connection and keep the connection to itself: it may be cancelled. */
  exclusive?: boolean | undefined
  asArray?: boolean | undefined
  types?: TypeParsers | undefined
}

/** A statement on its way: its outcome, and the entry itself (to withdraw or cancel it). */
export interface PendingStatement {
  readonly outcome: Promise<StatementOutcome>
  readonly entry: Statement | undefined
}

export class Lease {
  readonly conn: PooledConnection
  readonly wire: WireConnection
  readonly kind: LeaseKind
  readonly openedAt: CallSite | undefined
  readonly #outer: readonly PooledConnection[]
  readonly #pool: Pool
  readonly #cache: boolean
  #released = false
  /** Set when the signal aborted or the timeout passed; every later statement fails with it. */
  abortError: AbortedError | undefined
  /** A statement of this transaction was aborted on its own: the transaction must not commit. */
  poisoned: AbortedError | undefined
  /** COMMIT is in flight: an abort now cannot know the outcome. */
  committing = false
  /** COMMIT succeeded: an abort arriving now changes nothing. */
  committed = false
  /** The transaction is READ ONLY: a 25006 error is the caller's, not a sign of a demoted server. */
  readOnly = false
  /** What observers are told runs the statements: the lease's kind, or 'transaction' while one is open on a session. */
  traceScope: StatementScope
  readonly #deferred: (() => Promise<void>)[] = []
  /**
   * The BEGIN of a transaction whose first statement has not been queued yet. The first statement
   * carries it in its own round trip; a transaction that never ran a statement has nothing on
   * the server to commit or roll back.
   */
  #unsentBegin: string | undefined

  constructor(pool: Pool, conn: PooledConnection, kind: LeaseKind, openedAt: CallSite | undefined, outer: readonly PooledConnection[]) {
    this.#pool = pool
    this.conn = conn
    this.wire = conn.wire as WireConnection
    this.kind = kind
    this.openedAt = openedAt
    this.#outer = outer
    this.traceScope = kind
    this.#cache = pool.options.statementCacheSize > 0
  }

  /** The connections of the scopes this lease was opened inside, and its own: what the asking chain holds. */
  get heldChain(): readonly PooledConnection[] {
    return [...this.#outer, this.conn]
  }

  get released(): boolean {
    return this.#released
  }

  /** Why nothing may reach the connection any more, if so. */
  refusal(): Error | undefined {
    if (this.abortError) return this.abortError
    if (this.#released) {
      this.#pool.callSites.startRecording()
      return new SessionClosedError(this.kind === 'checkout' ? 'client' : this.kind, this.openedAt?.stack)
    }
    return undefined
  }

  /** Ask the server to interrupt what this lease's connection runs (only this lease's own statements can be in flight). */
  cancel(): Promise<void> {
    return this.wire.cancel(this.#pool.options.cancelGraceMs)
  }

  /** Queue a statement behind everything queued before it on this connection. */
  execute(request: StatementRequest): PendingStatement {
    const refusal = this.refusal()
    if (refusal !== undefined) return { outcome: Promise.resolve({ error: refusal, result: undefined, status: undefined, written: false }), entry: undefined }
    // Taken when queued, not when sent: from here on the transaction exists as far as COMMIT is concerned.
    const begin = this.#unsentBegin
    this.#unsentBegin = undefined
    const shape = analyzeStatement(request.text)
    const traced = this.#pool.instrumentation.statement({ text: request.text, scope: this.traceScope, via: 'pgsteward', connectionId: this.conn.id })
    let entry: Statement | undefined
    const outcome = new Promise<StatementOutcome>((resolve) => {
      entry = new Statement(
        this.wire,
        {
          text: request.text,
          values: request.values,
          begin,
          multiple: shape.multiple,
          exclusive: request.exclusive === true,
          effect: shape.effect,
          asArray: request.asArray,
          types: request.types,
          cache: this.#cache,
        },
        traced === undefined
          ? resolve
          : (result) => {
              traced(statementEnd(result, this.conn.id))
              resolve(result)
            },
      )
      this.wire.enqueue(entry)
    })
    return { outcome, entry }
  }

  /** Run a statement and reject with its error (unmapped): for the library's own statements (SAVEPOINT, COMMIT, ...). */
  async run(text: string): Promise<StatementOutcome> {
    const outcome = await this.execute({ text, values: undefined }).outcome
    if (outcome.error !== undefined) throw outcome.error
    return outcome
  }

  /** Queue a node-postgres submittable (query, cursor, stream, COPY); `settled` hears when the wire is done with it. */
  submit(submittable: DriverSubmittable, exclusive: boolean, effect: StatementEffect, settled: () => void): void {
    const traced = this.#pool.instrumentation.statement({ text: submittable.text ?? '', scope: this.traceScope, via: 'pg-facade', connectionId: this.conn.id })
    const begin = this.#unsentBegin
    this.#unsentBegin = undefined
    // A submittable writes its own messages and cannot carry BEGIN: BEGIN goes just ahead of it, in the same packet.
    if (begin !== undefined)
      this.wire.enqueue(new Statement(this.wire, { text: begin, values: undefined, exclusive: false, effect: 'neutral', cache: false }, () => undefined))
    this.wire.enqueue(
      new SubmittableEntry(this.wire, submittable, exclusive, effect, {
        settled: (_status, error, tag) => {
          traced?.(submittableEnd(error, tag, this.conn.id))
          settled()
        },
      }),
    )
  }

  /** Open a transaction with `begin` when the next statement is queued, in that statement's round trip. */
  beginWithNextStatement(begin: string): void {
    this.#unsentBegin = begin
  }

  /** Forget a BEGIN no statement has taken. True if there was one: the transaction never reached the server. */
  dropUnsentBegin(): boolean {
    const unsent = this.#unsentBegin !== undefined
    this.#unsentBegin = undefined
    return unsent
  }

  /**
   * Run `work` once the connection is back in the pool (now, if it already is). Commit and
   * rollback hooks go here, so a hook that queries the database never holds two connections.
   */
  async defer(work: () => Promise<void>): Promise<void> {
    if (this.#released) await work()
    else this.#deferred.push(work)
  }

  get hasDeferred(): boolean {
    return this.#deferred.length > 0
  }

  /** Run what was deferred until the release, in order. */
  async runDeferred(): Promise<void> {
    for (const work of this.#deferred.splice(0)) await work()
  }

  /**
   * Give the connection back once. Statements queued and not yet written never reach the server;
   * the pool cancels, rolls back, resets or destroys whatever is left dirty.
   */
  release(destroy = false): void {
    if (this.#released) return
    this.#released = true
    // Statements the owner queued and never saw written (it ended without awaiting them) fail with
    // why: built only then, since an error captures a stack.
    if (this.wire.queued > 0)
      this.wire.dropQueued(this.abortError ?? new SessionClosedError(this.kind === 'checkout' ? 'client' : this.kind, this.openedAt?.stack))
    this.#pool.release(this.conn, destroy)
  }
}
