/**
 * A node-postgres submittable on the wire: `pg.Query` (what the facade's `query` builds), and the
 * cursors, streams and COPY streams of pg-cursor, pg-query-stream and pg-copy-streams. Each gets
 * node-postgres's Connection to write with and the same calls node-postgres's Client would make
 * as the server answers, so these libraries work unchanged.
 */
import type { ServerError } from '../errors/map-error.js'
import type { ProtocolSocket } from './protocol-socket.js'
import type { StatementEffect } from './statement-effects.js'
import type { WireConnection } from './wire-connection.js'
import type { ServerMessage, TransactionStatus, WireEntry } from './wire-entry.js'

/** The calls node-postgres's Client makes on the query it is running. */
export interface DriverSubmittable {
  text?: string
  name?: string
  submit(connection: ProtocolSocket): Error | null | undefined | void
  handleRowDescription?(msg: unknown): void
  handleDataRow?(msg: unknown): void
  handlePortalSuspended?(connection: ProtocolSocket): void
  handleEmptyQuery?(connection: ProtocolSocket): void
  handleCommandComplete?(msg: unknown, connection: ProtocolSocket): void
  handleCopyInResponse?(connection: ProtocolSocket): void
  handleCopyData?(msg: unknown, connection: ProtocolSocket): void
  handleError?(err: unknown, connection: ProtocolSocket): void
  handleReadyForQuery?(connection: ProtocolSocket): void
}

export interface SubmittableHooks {
  /**
   * Its ReadyForQuery arrived (or the connection was lost): the wire is free of it. `error` is the
   * server's error or the loss; `tag` the last CommandComplete tag (`SELECT 3`), for observers.
   */
  settled(status: TransactionStatus | undefined, error: Error | undefined, tag: string | undefined): void
}

export class SubmittableEntry implements WireEntry {
  readonly exclusive: boolean
  readonly #conn: WireConnection
  readonly #submittable: DriverSubmittable
  readonly #effect: StatementEffect
  readonly #hooks: SubmittableHooks
  /** submit() refused it (bad config): a lone Sync was written to keep the exchange in step; report this at its ReadyForQuery. */
  #refused: Error | undefined
  #error: Error | undefined
  #tag: string | undefined

  constructor(conn: WireConnection, submittable: DriverSubmittable, exclusive: boolean, effect: StatementEffect, hooks: SubmittableHooks) {
    this.#conn = conn
    this.#submittable = submittable
    this.exclusive = exclusive
    this.#effect = effect
    this.#hooks = hooks
  }

  write(socket: ProtocolSocket): void {
    if (this.#effect === 'session') this.#conn.sessionDirty = true
    const refused = this.#submittable.submit(socket)
    if (refused instanceof Error) {
      this.#refused = refused
      socket.sync()
    }
  }

  message(message: ServerMessage, socket: ProtocolSocket): void {
    this.#handle(message, socket)
    // node-postgres's Connection also emits every message as an event, after its Client has handled
    // it: pg-cursor waits on 'noData', 'rowDescription' and (in close()) 'readyForQuery'.
    socket.emit(message.name, message)
  }

  #handle(message: ServerMessage, socket: ProtocolSocket): void {
    const q = this.#submittable
    switch (message.name) {
      case 'rowDescription':
        return q.handleRowDescription?.(message)
      case 'dataRow':
        return q.handleDataRow?.(message)
      case 'portalSuspended':
        return q.handlePortalSuspended?.(socket)
      case 'emptyQuery':
        return q.handleEmptyQuery?.(socket)
      case 'commandComplete':
        this.#tag = typeof message.text === 'string' ? message.text : undefined
        return q.handleCommandComplete?.(message, socket)
      case 'copyInResponse':
        return q.handleCopyInResponse?.(socket)
      case 'copyData':
        return q.handleCopyData?.(message, socket)
      case 'parseComplete':
        // As node-postgres's Client does: a named statement parsed once is not parsed again on this connection.
        if (q.name) {
          socket.parsedStatements[q.name] = q.text ?? ''
          if (socket.submittedNamedStatements) delete socket.submittedNamedStatements[q.name]
        }
        return
      default:
    }
  }

  error(err: ServerError, socket: ProtocolSocket): void {
    this.#error ??= err
    const q = this.#submittable
    if (q.name && socket.submittedNamedStatements) delete socket.submittedNamedStatements[q.name]
    q.handleError?.(err, socket)
  }

  ready(status: TransactionStatus, socket: ProtocolSocket): void {
    if (this.#refused !== undefined) this.#submittable.handleError?.(this.#refused, socket)
    // As node-postgres's Client: a query that got an ErrorResponse is no longer active and hears
    // nothing of the ReadyForQuery (pg.Query would call its callback a second time, with no error).
    else if (this.#error === undefined) this.#submittable.handleReadyForQuery?.(socket)
    this.#hooks.settled(status, this.#refused ?? this.#error, this.#tag)
    socket.emit('readyForQuery', { name: 'readyForQuery', status })
  }

  fail(err: Error, _written: boolean, socket: ProtocolSocket): void {
    this.#hooks.settled(undefined, this.#error ?? err, undefined)
    // node-postgres reports a lost connection to its queries on the next tick; so does this.
    process.nextTick(() => this.#submittable.handleError?.(err, socket))
  }
}
