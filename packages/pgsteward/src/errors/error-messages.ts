/**
 * The text of every pgsteward error: what happened and what to do. Kept apart from the classes
 * so that a message can be read, reviewed and changed in one place, and from the mapper so that
 * no message ever needs driver internals.
 */
import { fileURLToPath } from 'node:url'

/** A snapshot of the pool's gauges, carried by pool errors so a timeout explains itself. */
export interface PoolStateSnapshot {
  /** Open connections, whatever their state. */
  total: number
  /** Open connections waiting to be lent. */
  idle: number
  /** Connections lent to a statement, scope or checkout. */
  inUse: number
  /** Callers queued for a connection. */
  waiting: number
  /** Connections being opened. */
  connecting: number
  /** The pool's `max`. */
  max: number
}

/** A connection holder, as leak detection or session tracking recorded it. */
export interface HolderInfo {
  /** The pool's number for the connection, as the pool events name it. */
  connectionId: number
  /** How long it had been held, in milliseconds. */
  heldMs: number
  /** Stack of the code that acquired the connection, when it was recorded. */
  acquiredAt?: string | undefined
}

/** This package's compiled code and, where source maps translate frames back, its sources. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const OWN_CODE = [`${PACKAGE_ROOT}dist/`, `${PACKAGE_ROOT}src/`]

/**
 * A recorded stack as a reader wants it: the caller's frames, without pgsteward's own or Node's
 * internals, indented under the message.
 */
export function callerFrames(stack: string, spaces: number): string {
  const pad = ' '.repeat(spaces)
  return stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !OWN_CODE.some((dir) => line.includes(dir)) && !line.includes('(node:') && !line.startsWith('at node:'))
    .map((line) => pad + line)
    .join('\n')
}

export function describePoolState(s: PoolStateSnapshot): string {
  return `total ${s.total}/${s.max}, idle ${s.idle}, in use ${s.inUse}, waiting ${s.waiting}, connecting ${s.connecting}`
}

/** Said in place of a call site the database did not record (see the `callSites` option). */
function notRecorded(what: string): string {
  return (
    `\nWhere the ${what} was opened was not recorded: by default (callSites: 'after-first-error') call sites are recorded only once such an error ` +
    "has been raised, so scopes opened from now on name theirs. Set callSites: 'always' in createDatabase to record them from the start."
  )
}

function describeHolders(holders: readonly HolderInfo[]): string {
  if (holders.length === 0) return ''
  const lines = holders.map(
    (h) => `  connection #${h.connectionId} held for ${h.heldMs} ms${h.acquiredAt ? `, acquired at:\n${callerFrames(h.acquiredAt, 6)}` : ''}`,
  )
  return `\nConnections in use:\n${lines.join('\n')}`
}

export const messages = {
  configInvalid: (problems: readonly string[]): string => `pgsteward configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,

  poolTimeout: (waitedMs: number, pool: PoolStateSnapshot, holders: readonly HolderInfo[]): string => {
    const why =
      pool.inUse >= pool.max
        ? ' Every connection was in use: release connections sooner, raise pool.max, or enable pool.leakDetectionMs to find a holder that never releases.' +
          (holders.length === 0
            ? ' Sessions and transactions opened from now on record where they were opened, and a timeout lists them (option callSites).'
            : '')
        : ''
    // "timeout" in the text: code written for pg.Pool recognises its acquire timeout by that word.
    return `Acquire timeout: waited ${waitedMs} ms for a connection (pool: ${describePoolState(pool)}).${why}${describeHolders(holders)}`
  },

  poolClosed: (): string => 'The database pool is closed: no new queries are accepted after close().',

  poolDeadlock: (pool: PoolStateSnapshot, holder: HolderInfo): string =>
    `This code already holds connection #${holder.connectionId} and asked for another while every connection of the pool (${describePoolState(pool)}) ` +
    'is held by it or by code that is itself waiting for a connection: no holder can ever give one back, so waiting would only end at the acquire timeout. ' +
    'Run the work on the connection you hold (drop independent: true, or use db.query inside the scope), finish the outer scope first, ' +
    'or raise pool.max above the number of scopes that nest.' +
    (holder.acquiredAt ? `\nThe held connection was acquired at:\n${callerFrames(holder.acquiredAt, 2)}` : notRecorded('scope holding it')),

  connectFailed: (where: string, reason: string, attempts: number): string =>
    `Could not connect to PostgreSQL at ${where}: ${reason}` +
    (attempts > 1 ? ` (${attempts} attempts)` : '') +
    '. Check that the server is running and reachable, and the host, port, user, password and database in the connection settings.',

  sessionClosed: (kind: string, openedAt: string | undefined): string =>
    `This ${kind} was used after its callback settled; its connection is back in the pool. Do the work inside the callback, or open a new ${kind}.` +
    (openedAt ? `\nThe ${kind} was opened at:\n${callerFrames(openedAt, 2)}` : notRecorded(kind)),

  concurrentUse: (kind: string, openedAt: string | undefined, usedAt: string | undefined): string =>
    `This ${kind} belongs to another async scope (another request or task) and was used from outside it. ` +
    `Two tasks sharing one connection interleave their statements. Open a ${kind} of your own with db.${kind}(...) or use db.query, ` +
    `which joins the ${kind} of the current scope.` +
    (openedAt ? `\nOpened at:\n${callerFrames(openedAt, 2)}` : notRecorded(kind)) +
    (usedAt ? `\nUsed at:\n${callerFrames(usedAt, 2)}` : ''),

  aborted: (reason: unknown): string => `The operation was aborted${reasonText(reason)}; its query was cancelled and its transaction rolled back.`,

  timedOut: (timeoutMs: number): string =>
    `The operation did not finish within its timeoutMs of ${timeoutMs} ms; its query was cancelled and its transaction rolled back.`,

  writeTokenInvalid: (where: string, length: number | undefined): string =>
    `${where} is not a write token (${length === undefined ? 'not a string' : `a string of ${length} characters`}): pass what db.writeToken() returned, which looks like 16/B374D848, or leave it out.`,

  ambiguousCommit: (): string =>
    'The connection was lost or abandoned while COMMIT was in flight: the transaction may or may not have been committed. ' +
    'It was not retried. Check whether its effects are present before repeating it, or make the work idempotent.',

  failedTransaction: (kind: 'transaction' | 'savepoint'): string =>
    `A statement in this ${kind} failed and its error was caught inside the callback. PostgreSQL aborts a transaction at its first failed statement, ` +
    `so the ${kind} was rolled back, not committed. Let the error propagate, or wrap the statement whose failure you expect in tx.transaction(...) (a savepoint).`,

  staleVersion: (table: string, expected: number, current: number): string =>
    `The row in ${table} is at version ${current}, not the expected ${expected}: someone else changed it. Re-read it and apply the change again.`,

  tooManyRows: (rowCount: number): string => `Expected at most one row, got ${rowCount}.`,

  connectionLost: (reason: string): string => `The connection was lost: ${reason}`,

  parameterInvalid: (position: number, reason: string): string =>
    `Parameter $${position} cannot be sent to PostgreSQL: ${reason}. Nothing was sent; convert the value to a string, number, boolean, Date, Buffer, array or plain JSON-serialisable object first.`,

  tooManyParameters: (count: number): string =>
    `The statement has ${count} parameters; PostgreSQL's protocol allows at most 65,535. Nothing was sent. ` +
    'Send the rows in batches, or pass one array parameter (for example `= ANY(${ids})` or `unnest(${array})`).',

  notificationPayload: (bytes: number | undefined): string =>
    `A notification payload of ${bytes === undefined ? 'more than 7,999' : bytes.toLocaleString('en-US')} bytes exceeds PostgreSQL's limit of 7,999 bytes. ` +
    'Nothing was delivered. Send an id and let the listener read the data from the database.',
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return `: ${reason.message}`
  if (typeof reason === 'string') return `: ${reason}`
  return ''
}
