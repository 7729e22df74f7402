/**
 * One server connection as the pool sees it: a node-postgres Client plus what the pool must know
 * to lend it safely: transaction status (from every ReadyForQuery), queries in flight, whether
 * the session was changed, whether the socket broke, and when it was made, lent and returned.
 */
import pg from 'pg'
import type { CallSite } from './call-site.js'
import { BeginWithStatement, canCarryBegin } from './begin-with-statement.js'
import { sendCancelRequest } from './cancel-request.js'
import { isConnectionFatal } from './errors.js'
import { changesSession } from './session-changes.js'
import { cachedStatementFailure, markStatementCacheFailure, type StatementNames } from './statement-cache.js'

/** ReadyForQuery status: idle, in a transaction block, in a failed transaction block. */
export type TransactionStatus = 'I' | 'T' | 'E'

export type ConnectionState = 'connecting' | 'idle' | 'lent' | 'resetting' | 'closed'

/** Query results as node-postgres returns them: one per statement. */
export type DriverResult = pg.QueryResult<Record<string, unknown>> | pg.QueryResult<Record<string, unknown>>[]

/** The parts of node-postgres's Client this module reads that its typings do not declare. */
interface ClientInternals {
  /** False from sending a query until its ReadyForQuery arrives. */
  readyForQuery: boolean
  queryQueue: unknown[]
  processID: number | null
  secretKey: number | null
  host: string
  port: number
  connection: NodeJS.EventEmitter & {
    parsedStatements?: Record<string, string>
    stream?: { destroy(err?: Error): void }
  }
}

/** The SQLSTATE of an error the server sent (an ErrorResponse, always followed by ReadyForQuery); undefined for any other failure. */
export function serverErrorState(err: unknown): string | undefined {
  const sqlState = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState) ? sqlState : undefined
}

export type StatementCallback = (err: Error | undefined, result: DriverResult | undefined) => void

/** One statement on its way: what was asked, what was sent (maybe under a cache name), who hears the outcome. */
interface StatementCall {
  readonly config: pg.QueryConfig
  sent: pg.QueryConfig
  readonly done: StatementCallback
  readonly onSettled: (() => void) | undefined
  /** Whether a refused cached statement may still be sent again (once, outside a transaction). */
  resendable: boolean
}

const internals = (client: pg.Client): ClientInternals => client as unknown as ClientInternals

export class PooledConnection {
  readonly id: number
  readonly client: pg.Client
  state: ConnectionState = 'connecting'
  transactionStatus: TransactionStatus = 'I'
  /** A statement changed session state: reset before the next borrower. */
  sessionChanged = false
  /** The socket failed or the server ended the session: never lend again. */
  broken = false
  brokenBy: unknown
  inFlight = 0
  serverVersion: string | undefined
  createdAt = 0
  retireAt = Infinity
  idleSince = 0
  lentAt = 0
  /** Where the holder acquired it, when recorded (leak detection, sessions); its stack is formatted only when reported. */
  acquiredAt: CallSite | undefined
  leakTimer: NodeJS.Timeout | undefined
  leaked = false
  readonly #onBroken: (conn: PooledConnection) => void
  /** Waiters of whenQuiet, told true when the connection went quiet, false when it broke or closed. */
  #drained: ((quiet: boolean) => void)[] = []
  /** Names for cached statements; undefined when the statement cache is off. */
  readonly #statementNames: StatementNames | undefined
  /** Statements this connection prepared under a cache name (bounded by the cache's per-connection size). */
  #prepared = 0

  constructor(id: number, config: pg.ClientConfig, onBroken: (conn: PooledConnection) => void, statementNames?: StatementNames) {
    this.id = id
    this.#statementNames = statementNames
    this.client = new pg.Client(config)
    this.#onBroken = onBroken
    const connection = internals(this.client).connection
    // Registered before connect: the server reports its version during start-up.
    connection.on('parameterStatus', (msg: { parameterName: string; parameterValue: string }) => {
      if (msg.parameterName === 'server_version') this.serverVersion = msg.parameterValue
    })
    connection.on('readyForQuery', (msg: { status: string }) => {
      this.transactionStatus = msg.status as TransactionStatus
      // A statement's promise settles at its ErrorResponse or CommandComplete; only here is the
      // connection really idle (and its transaction status current).
      this.#notifyIfQuiet()
    })
    // Without an 'error' listener an idle socket error would crash the process.
    this.client.on('error', (err: Error) => this.markBroken(err))
    this.client.on('end', () => this.markBroken(new Error('Connection ended')))
  }

  async connect(): Promise<void> {
    await this.client.connect()
  }

  markBroken(err: unknown): void {
    if (this.broken) return
    this.broken = true
    this.brokenBy = err
    this.#tellDrained(false)
    this.#onBroken(this)
  }

  /**
   * Run one statement, keeping count of what is in flight and what the statement changed.
   * `onSettled` runs when it settles, before the promise does. With `begin`, the statement opens
   * a transaction: BEGIN goes in the same round trip where the statement allows it, else first.
   */
  query(config: pg.QueryConfig, onSettled?: () => void, begin?: string): Promise<DriverResult> {
    // Callback style underneath: one promise per statement instead of node-postgres's plus ours.
    return new Promise<DriverResult>((resolve, reject) => {
      this.send(
        config,
        (err, result) => {
          if (err) reject(err)
          else resolve(result as DriverResult)
        },
        onSettled,
        begin,
      )
    })
  }

  /** `query` without a promise: `done` gets the outcome, after `onSettled` ran. */
  send(config: pg.QueryConfig, done: StatementCallback, onSettled?: () => void, begin?: string): void {
    this.inFlight++
    const call: StatementCall = {
      config,
      sent: this.#named(config),
      done,
      onSettled,
      // A cached statement refused at Bind outside a transaction has not run: it may be sent again.
      resendable: begin === undefined && this.transactionStatus === 'I',
    }
    // Callbacks are inline arrows, not named constants: under tsx (esbuild's keepNames) a named
    // closure costs a defineProperty each time it is made, and this runs for every statement.
    if (begin === undefined) {
      this.client.query(call.sent, (err: Error | undefined, result: DriverResult) => this.#settle(call, err, result))
    } else if (canCarryBegin(config)) {
      const statement = new BeginWithStatement(begin, call.sent, (err, result) => this.#settle(call, err, result))
      this.client.query(statement as unknown as pg.Submittable)
    } else {
      // BEGIN alone first; if it failed, the statement must not run outside a transaction.
      this.client.query({ text: begin }, (err: Error | undefined) => {
        if (err) this.#settle(call, err, undefined)
        else this.client.query(call.sent, (err2: Error | undefined, result: DriverResult) => this.#settle(call, err2, result))
      })
    }
  }

  #settle(call: StatementCall, err: Error | undefined, result: DriverResult | undefined): void {
    const { config } = call
    if (err && call.sent !== config && this.#cachedStatementFailed(call.sent, err) && call.resendable) {
      call.resendable = false
      call.sent = this.#named(config)
      this.client.query(call.sent, (err2: Error | undefined, result2: DriverResult) => this.#settle(call, err2, result2))
      return
    }
    this.#settled()
    call.onSettled?.()
    if (err || result === undefined) {
      const failure = err ?? new Error('pgsteward: a statement ended without a result')
      this.noteError(failure)
      call.done(failure, undefined)
      return
    }
    if (Array.isArray(result)) {
      for (const r of result) if (changesSession(r.command, config.text)) this.sessionChanged = true
    } else if (changesSession(result.command, config.text)) {
      this.sessionChanged = true
    }
    call.done(undefined, result)
  }

  /** `config` under its statement-cache name when it qualifies and this connection has room; else `config` itself. */
  #named(config: pg.QueryConfig): pg.QueryConfig {
    const names = this.#statementNames
    if (names === undefined || config.name !== undefined || config.values === undefined || config.values.length === 0) return config
    if ((config as { rows?: unknown }).rows !== undefined) return config
    const name = names.nameFor(config.text)
    if (this.#parsedStatements()[name] === undefined) {
      if (this.#prepared >= names.perConnection) return config
      this.#prepared++
    }
    return { ...config, name }
  }

  /** Keep the cache's records true after `sent` failed; true if the cache itself was the cause. */
  #cachedStatementFailed(sent: pg.QueryConfig, err: unknown): boolean {
    const name = sent.name as string
    const parsed = this.#parsedStatements()
    const failure = cachedStatementFailure(err)
    if (failure === 'stale-plan') {
      // The server keeps the stale statement under its old name until this connection closes.
      this.#statementNames?.renew(sent.text)
    } else if (parsed[name] === undefined) {
      // Never prepared (its Parse failed, or what came before it in the batch did): the slot is free.
      this.#prepared--
    } else if (failure === 'missing') {
      delete parsed[name]
      this.#prepared--
    }
    if (failure === undefined) return false
    markStatementCacheFailure(err as object)
    return true
  }

  #parsedStatements(): Record<string, string> {
    const connection = internals(this.client).connection
    return (connection.parsedStatements ??= {})
  }

  /** Run a node-postgres submittable (cursor, stream) with the same bookkeeping. */
  submit<T extends pg.Submittable>(submittable: T, text: string): T {
    this.inFlight++
    const emitter = submittable as unknown as NodeJS.EventEmitter
    let done = false
    const finish = (err?: unknown): void => {
      if (done) return
      done = true
      this.#settled()
      if (err !== undefined) this.noteError(err)
      else this.sessionChanged ||= changesSession(text.trim().split(/\s+/)[0]?.toUpperCase(), text)
    }
    emitter.once('end', () => finish())
    emitter.once('error', (err: unknown) => finish(err))
    this.client.query(submittable)
    return submittable
  }

  /** A failed statement leaves the connection usable; a lost or shut-down one does not. */
  noteError(err: unknown): void {
    const sqlState = serverErrorState(err)
    if (sqlState === undefined || isConnectionFatal(sqlState)) this.markBroken(err)
  }

  #settled(): void {
    this.inFlight--
    this.#notifyIfQuiet()
  }

  /**
   * Something is still running or queued: a statement in flight, or one whose ReadyForQuery has
   * not arrived yet (its status would be stale: a failed statement rejects before the server
   * reports the transaction as failed).
   */
  get busy(): boolean {
    const c = internals(this.client)
    return this.inFlight > 0 || !c.readyForQuery || c.queryQueue.length > 0
  }

  #notifyIfQuiet(): void {
    if (this.#drained.length === 0 || this.busy) return
    this.#tellDrained(true)
  }

  #tellDrained(quiet: boolean): void {
    const waiting = this.#drained
    this.#drained = []
    for (const tell of waiting) tell(quiet)
  }

  /**
   * Resolves true once nothing is running or queued; false if `timeoutMs` passes first, or at once
   * when the connection breaks or is closed (its timer does not keep the process alive, so a
   * connection cut under a waiter must answer it).
   */
  whenQuiet(timeoutMs: number): Promise<boolean> {
    if (!this.busy) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      timer.unref()
      this.#drained.push((quiet) => {
        clearTimeout(timer)
        resolve(quiet)
      })
    })
  }

  /** Ask the server to cancel what this connection is running. Never rejects. */
  cancel(timeoutMs: number): Promise<void> {
    const c = internals(this.client)
    if (c.processID === null || c.secretKey === null) return Promise.resolve()
    return sendCancelRequest({ host: c.host, port: c.port, processId: c.processID, secretKey: c.secretKey }, timeoutMs)
  }

  /** The server's backend process id, as `pg_backend_pid()` reports it. */
  get processId(): number | null {
    return internals(this.client).processID
  }

  /**
   * Forget node-postgres's record of named statements: after DISCARD ALL the server has none, and
   * the client would otherwise skip the Parse step for a statement that no longer exists.
   */
  forgetPreparedStatements(): void {
    const connection = internals(this.client).connection
    if (connection.parsedStatements) connection.parsedStatements = {}
    this.#prepared = 0
  }

  /** Close gracefully (Terminate message), or cut the socket when `force` or already broken. */
  close(force: boolean): Promise<void> {
    this.state = 'closed'
    if (this.leakTimer) clearTimeout(this.leakTimer)
    this.#tellDrained(false)
    if (force || this.broken) {
      internals(this.client).connection.stream?.destroy()
      return Promise.resolve()
    }
    return this.client.end().catch(() => undefined)
  }
}
