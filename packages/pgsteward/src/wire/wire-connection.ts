/**
 * One server connection, spoken to directly: start-up and authentication, then entries written
 * in order and answered in order, several in flight at once when allowed (pipelining). What the
 * pool needs to lend it safely is known for certain from the protocol: the transaction status
 * of every ReadyForQuery, whether anything is in flight, and whether the socket is gone. A
 * failed statement is over at its ReadyForQuery, right after its ErrorResponse; a lost socket
 * fails everything in flight at once.
 */
import { connectionClosed, type ServerError } from '../errors/map-error.js'
import type { ConnectionSettings, HostAddress } from '../options/connection-settings.js'
import { Authenticator } from './authenticate.js'
import { sendCancelRequest } from './cancel-request.js'
import { PreparedStatements } from './prepared-statements.js'
import { ProtocolSocket, TransportError } from './protocol-socket.js'
import type { StatementNames } from './statement-names.js'
import type { ServerMessage, TransactionStatus, WireEntry } from './wire-entry.js'

export interface WireListeners {
  /** The socket closed or broke; `err` says why (undefined for a close we asked for). Called once. */
  closed(conn: WireConnection, err: Error | undefined): void
  /** A server parameter changed while connected (in_hot_standby, default_transaction_read_only, ...). */
  parameter?(conn: WireConnection, name: string, value: string): void
  notification?(conn: WireConnection, message: { processId: number; channel: string; payload: string }): void
  notice?(conn: WireConnection, message: ServerError): void
}

export interface OpenOptions {
  address: HostAddress
  settings: ConnectionSettings
  /** plain: no TLS; tls-or-plain: TLS if the server has it; tls: TLS or fail. */
  tlsAttempt: 'plain' | 'tls-or-plain' | 'tls'
  /** Aborts the attempt (the connect timeout, or the caller's deadline). */
  signal: AbortSignal
  /** Several entries in flight at once; false writes one at a time. */
  pipelining: boolean
  statementNames: StatementNames | undefined
}

type WireState = 'connecting' | 'open' | 'closed'

let nextId = 1

export class WireConnection {
  readonly id = nextId++
  readonly address: HostAddress
  readonly socket = new ProtocolSocket()
  /** Server parameters as reported (server_version, in_hot_standby, default_transaction_read_only, ...). */
  readonly parameters = new Map<string, string>()
  /** Named statements this connection prepared for the statement cache. */
  readonly prepared: PreparedStatements
  #state: WireState = 'connecting'
  #status: TransactionStatus = 'I'
  #processId = 0
  #secretKey = 0
  readonly #pipelining: boolean
  readonly #listeners: WireListeners
  /** Written, awaiting their ReadyForQuery, oldest first. */
  readonly #inFlight: WireEntry[] = []
  /** Waiting to be written. */
  readonly #queued: WireEntry[] = []
  /** An exclusive entry is in flight: nothing more is written until it is answered. */
  #exclusiveInFlight = false
  /** Cancel requests under way: nothing is written until they are delivered, so none can hit a later statement. */
  #cancelsInFlight = 0
  #corked = false
  /** A FATAL error the server sent before closing: what the entries in flight are told. */
  #fatal: ServerError | undefined
  #closeCause: Error | undefined
  #quietWaiters: ((quiet: boolean) => void)[] = []
  /** Until start-up completes, messages go here. */
  #startup: ((message: ServerMessage) => void) | undefined
  /** A statement ran that may have changed session state (SET, LISTEN, temp tables, ...): reset before the next borrower. */
  sessionDirty = false

  private constructor(options: OpenOptions, listeners: WireListeners) {
    this.address = options.address
    this.#pipelining = options.pipelining
    this.#listeners = listeners
    this.prepared = new PreparedStatements(options.statementNames)
  }

  /** Open a connection and complete start-up; rejects with the transport or server error. */
  static async open(options: OpenOptions, listeners: WireListeners): Promise<WireConnection> {
    const conn = new WireConnection(options, listeners)
    await conn.#start(options)
    return conn
  }

  async #start({ address, settings, tlsAttempt, signal }: OpenOptions): Promise<void> {
    const auth = new Authenticator(settings.user, () => settings.password())
    let fail: (err: unknown) => void = () => undefined
    const started = new Promise<void>((resolve, reject) => {
      fail = (err: unknown): void => {
        this.socket.stream.destroy()
        reject(err instanceof Error ? err : new Error(String(err)))
      }
      this.#startup = (message) => {
        switch (message.name) {
          case 'readyForQuery':
            this.#startup = undefined
            this.#state = 'open'
            this.#status = message.status as TransactionStatus
            resolve()
            return
          case 'error':
            fail(message)
            return
          case 'backendKeyData':
            this.#processId = message.processID as number
            this.#secretKey = message.secretKey as number
            return
          case 'parameterStatus':
            this.parameters.set(message.parameterName as string, message.parameterValue as string)
            return
          case 'notice':
            return
          default:
            auth.answer(message, this.socket).then((known) => {
              if (!known) fail(new Error(`unexpected ${message.name} message during start-up`))
            }, fail)
        }
      }
    })
    // Settled here too, so a failure before anyone awaits it is never an unhandled rejection.
    started.catch(() => undefined)
    const onAbort = (): void => fail(new TransportError('connection timeout: the server did not complete start-up in time', 'ETIMEDOUT'))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await this.socket.open(
        address,
        settings.tls,
        tlsAttempt,
        settings.keepAliveInitialDelayMs,
        signal,
        (message) => this.#receive(message),
        (err) => {
          if (this.#startup !== undefined) fail(err ?? new Error('the server closed the connection during start-up'))
          this.#onClose(err)
        },
      )
      this.socket.startup({ user: settings.user, database: settings.database, ...settings.startupParameters })
      await started
    } catch (err) {
      this.#state = 'closed'
      this.socket.stream.destroy()
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  // ------------------------------------------------------------------ state

  get state(): WireState {
    return this.#state
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  /** The transaction status of the last ReadyForQuery. */
  get transactionStatus(): TransactionStatus {
    return this.#status
  }

  /** Entries written and not yet answered. */
  get inFlight(): number {
    return this.#inFlight.length
  }

  /** Entries waiting to be written. */
  get queued(): number {
    return this.#queued.length
  }

  /** Nothing in flight and nothing waiting to be written. */
  get quiet(): boolean {
    return this.#inFlight.length === 0 && this.#queued.length === 0
  }

  get processId(): number {
    return this.#processId
  }

  get serverVersion(): string | undefined {
    return this.parameters.get('server_version')
  }

  /** Whether the server is a standby (from in_hot_standby, reported by PostgreSQL 14 and later). */
  get inHotStandby(): boolean | undefined {
    const value = this.parameters.get('in_hot_standby')
    return value === undefined ? undefined : value === 'on'
  }

  // ------------------------------------------------------------------ writing

  /** Queue an entry; it is written as soon as the rules allow (at once, when nothing holds it back). */
  enqueue(entry: WireEntry): void {
    this.#queue(entry, 'last')
  }

  /** Put an entry back at the head of the queue (a statement the cache made fail before it ran). */
  requeueFirst(entry: WireEntry): void {
    this.#queue(entry, 'first')
  }

  #queue(entry: WireEntry, where: 'first' | 'last'): void {
    if (this.#state === 'closed') {
      entry.fail(this.#lostError(), false, this.socket)
      return
    }
    if (where === 'first') this.#queued.unshift(entry)
    else this.#queued.push(entry)
    this.#pump()
  }

  /** Fail every entry not yet written; they never reach the server. */
  dropQueued(err: Error): void {
    for (const entry of this.#queued.splice(0)) entry.fail(err, false, this.socket)
    this.#notifyIfQuiet()
  }

  #pump(): void {
    while (this.#queued.length > 0 && this.#state === 'open' && this.#cancelsInFlight === 0) {
      const next = this.#queued[0] as WireEntry
      if (this.#inFlight.length > 0 && (next.exclusive || this.#exclusiveInFlight || !this.#pipelining)) return
      this.#queued.shift()
      this.#inFlight.push(next)
      if (next.exclusive) this.#exclusiveInFlight = true
      this.#corkUntilNextTick()
      next.write(this.socket)
    }
  }

  /** Entries written in the same tick leave in one packet. */
  #corkUntilNextTick(): void {
    if (this.#corked) return
    this.#corked = true
    const stream = this.socket.stream
    stream.cork()
    process.nextTick(() => {
      this.#corked = false
      stream.uncork()
    })
  }

  // ------------------------------------------------------------------ reading

  #receive(message: ServerMessage): void {
    if (this.#startup !== undefined) {
      this.#startup(message)
      return
    }
    switch (message.name) {
      case 'readyForQuery':
        return this.#ready(message.status as TransactionStatus)
      case 'error':
        return this.#error(message as unknown as ServerError)
      case 'parameterStatus': {
        const name = message.parameterName as string
        const value = message.parameterValue as string
        this.parameters.set(name, value)
        this.#listeners.parameter?.(this, name, value)
        return
      }
      case 'notification':
        this.#listeners.notification?.(this, message as unknown as { processId: number; channel: string; payload: string })
        return
      case 'notice':
        this.#listeners.notice?.(this, message as unknown as ServerError)
        return
      default: {
        const head = this.#inFlight[0]
        if (head === undefined) {
          this.destroy(new Error(`the server sent ${message.name} with no statement in flight`))
          return
        }
        head.message(message, this.socket)
      }
    }
  }

  #error(err: ServerError): void {
    const fatal = err.severity === 'FATAL' || err.severity === 'PANIC'
    if (fatal) this.#fatal = err
    const head = this.#inFlight[0]
    if (head !== undefined) head.error(err, this.socket)
    else if (!fatal) this.destroy(new Error(`the server sent an error with no statement in flight: ${err.message}`))
    // A FATAL error is followed by the server closing the socket: #onClose fails what is left.
  }

  #ready(status: TransactionStatus): void {
    this.#status = status
    const head = this.#inFlight.shift()
    if (head === undefined) {
      this.destroy(new Error('the server sent ReadyForQuery with no statement in flight'))
      return
    }
    if (head.exclusive) this.#exclusiveInFlight = false
    head.ready(status, this.socket)
    this.#pump()
    this.#notifyIfQuiet()
  }

  // ------------------------------------------------------------------ quiet, cancel, close

  /** True once nothing is in flight or queued; false if `timeoutMs` passes first or the connection closes. */
  whenQuiet(timeoutMs: number): Promise<boolean> {
    if (this.quiet) return Promise.resolve(true)
    if (this.#state === 'closed') return Promise.resolve(false)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#quietWaiters = this.#quietWaiters.filter((w) => w !== tell)
        resolve(false)
      }, timeoutMs)
      timer.unref()
      const tell = (quiet: boolean): void => {
        clearTimeout(timer)
        resolve(quiet)
      }
      this.#quietWaiters.push(tell)
    })
  }

  #notifyIfQuiet(): void {
    if (this.#quietWaiters.length === 0 || !this.quiet) return
    for (const tell of this.#quietWaiters.splice(0)) tell(true)
  }

  /**
   * Ask the server to interrupt what this connection is running. Nothing more is written until
   * the server has taken the request, so it cannot land on a statement written after it. Never rejects.
   */
  async cancel(timeoutMs: number): Promise<void> {
    if (this.#state !== 'open') return
    this.#cancelsInFlight++
    try {
      await sendCancelRequest({ ...this.address, processId: this.#processId, secretKey: this.#secretKey }, timeoutMs)
    } finally {
      this.#cancelsInFlight--
      this.#pump()
    }
  }

  /** Take an entry back if it has not been written yet; true if it was withdrawn (it never reaches the server). */
  withdraw(entry: WireEntry): boolean {
    const index = this.#queued.indexOf(entry)
    if (index < 0) return false
    this.#queued.splice(index, 1)
    this.#notifyIfQuiet()
    return true
  }

  /** Keep the process alive for this socket (lent), or not (idle in the pool). */
  setRef(referenced: boolean): void {
    const stream = this.socket.stream as { ref?: () => void; unref?: () => void }
    if (referenced) stream.ref?.()
    else stream.unref?.()
  }

  /** Close politely (Terminate), failing whatever is still queued or in flight. */
  terminate(): void {
    if (this.#state === 'closed') return
    this.#closeCause = undefined
    this.socket.end()
  }

  /** Cut the socket now. */
  destroy(cause?: Error): void {
    if (this.#state === 'closed' && this.socket.stream.destroyed) return
    this.#closeCause ??= cause
    this.socket.stream.destroy()
  }

  #lostError(): Error {
    return (this.#fatal as unknown as Error | undefined) ?? connectionClosed(this.#closeCause)
  }

  #onClose(err: Error | undefined): void {
    if (err !== undefined) this.#closeCause ??= err
    // Closed while starting: open() rejects; the pool never had this connection.
    if (this.#state !== 'open') {
      this.#state = 'closed'
      return
    }
    this.#state = 'closed'
    const lost = this.#lostError()
    for (const entry of this.#inFlight.splice(0)) entry.fail(lost, true, this.socket)
    for (const entry of this.#queued.splice(0)) entry.fail(lost, false, this.socket)
    this.#exclusiveInFlight = false
    for (const tell of this.#quietWaiters.splice(0)) tell(false)
    this.#listeners.closed(this, this.#closeCause ?? this.#fatal)
  }
}
