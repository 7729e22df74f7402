/**
 * One unit of work on a connection's wire: written as a batch of protocol messages ending in
 * Sync (or a simple Query), answered by messages up to and including one ReadyForQuery. The
 * connection writes entries in order and routes every answer to the oldest unanswered entry,
 * so several entries can be in flight at once (pipelining) without mixing their answers.
 */
import type { ServerError } from '../errors/map-error.js'
import type { ProtocolSocket } from './protocol-socket.js'

/** ReadyForQuery's status byte: idle, in a transaction block, in a failed transaction block. */
export type TransactionStatus = 'I' | 'T' | 'E'

/** Server messages routed to an entry, as pg-protocol parses them. */
export type ServerMessage = Record<string, unknown> & { name: string }

export interface WireEntry {
  /**
   * Written only when nothing else is in flight, and nothing is written behind it until it is
   * answered: for work that may need to be cancelled (a cancel must not hit anyone else's
   * statement) and for cursors and COPY, which keep talking to the server between messages.
   */
  readonly exclusive: boolean
  /**
   * Write the entry's messages. `socket` is node-postgres's Connection, which submittables
   * expect; `withinTransaction` says whether the statement will run inside a transaction block
   * (as far as the entries written before it tell).
   */
  write(socket: ProtocolSocket): void
  /** A message that belongs to this entry (everything but ReadyForQuery and errors). */
  message(message: ServerMessage, socket: ProtocolSocket): void
  /** The server's ErrorResponse for this entry; its ReadyForQuery follows. */
  error(err: ServerError, socket: ProtocolSocket): void
  /** The entry's ReadyForQuery: it is done; `status` is the transaction status after it. */
  ready(status: TransactionStatus, socket: ProtocolSocket): void
  /** The connection was lost (or the entry dropped before being written): it will get no answer. */
  fail(err: Error, written: boolean, socket: ProtocolSocket): void
}
