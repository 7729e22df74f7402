/**
 * Opening one connection the way libpq does with several hosts: try them in order (shuffled with
 * `load_balance_hosts=random`), negotiate TLS as sslmode says, and keep a connection only if the
 * server it reached fits `target_session_attrs` (a primary for read-write, a standby for standby,
 * ...). The first connection that fits wins; if none does, the caller gets the last failure.
 * As libpq's `connect_timeout`, the connect timeout bounds each host on its own (opening it and
 * asking what it is), so a first host that accepts and never answers does not use up the time
 * the next hosts need; the whole attempt is bounded by hosts x timeout, and the caller's wait by
 * its own acquire timeout.
 */
import { performance } from 'node:perf_hooks'
import type { ConnectionSettings, HostAddress, TargetSessionAttrs } from '../options/connection-settings.js'
import { runSimple } from '../wire/run-simple.js'
import type { StatementNames } from '../wire/statement-names.js'
import { WireConnection, type WireListeners } from '../wire/wire-connection.js'

export interface ConnectRequest {
  settings: ConnectionSettings
  pipelining: boolean
  statementNames: StatementNames | undefined
  listeners: WireListeners
}

/** No host fitted `target_session_attrs`. */
export class ServerRoleMismatch extends Error {}

function shuffled<T>(items: readonly T[]): T[] {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

/** What the server is: a standby, and whether its transactions default to read-only. */
async function serverRole(conn: WireConnection, timeoutMs: number): Promise<{ standby: boolean; readOnly: boolean }> {
  const standby = conn.inHotStandby
  const readOnly = conn.parameters.get('default_transaction_read_only')
  if (standby !== undefined && readOnly !== undefined) return { standby, readOnly: standby || readOnly === 'on' }
  // Servers before PostgreSQL 14 do not report in_hot_standby: ask.
  const result = await runSimple(conn, "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') = 'on' AS read_only", timeoutMs)
  const row = result.rows[0] as { standby: boolean; read_only: boolean } | undefined
  return { standby: row?.standby === true, readOnly: row?.standby === true || row?.read_only === true }
}

/** Whether a server with `role` fits `target`; `pass` is 'preferred' on prefer-standby's first round. */
export function fitsTarget(target: TargetSessionAttrs, role: { standby: boolean; readOnly: boolean }, pass: 'preferred' | 'any'): boolean {
  switch (target) {
    case 'any':
      return true
    case 'read-write':
      return !role.readOnly
    case 'read-only':
      return role.readOnly
    case 'primary':
      return !role.standby
    case 'standby':
      return role.standby
    case 'prefer-standby':
      return pass === 'any' || role.standby
  }
}

/** True when a connection already open no longer fits its target (the primary it reached became read-only). */
export function connectionFitsTarget(conn: WireConnection, target: TargetSessionAttrs): boolean {
  if (target === 'any' || target === 'prefer-standby') return true
  const standby = conn.inHotStandby
  const readOnly = conn.parameters.get('default_transaction_read_only')
  if (standby === undefined) return true
  return fitsTarget(target, { standby, readOnly: standby || readOnly === 'on' }, 'any')
}

async function openOne(request: ConnectRequest, address: HostAddress, deadline: number): Promise<WireConnection> {
  const { settings } = request
  const remaining = Math.max(1, Math.ceil(deadline - performance.now()))
  const attempt = (tlsAttempt: 'plain' | 'tls-or-plain' | 'tls'): Promise<WireConnection> =>
    WireConnection.open(
      { address, settings, tlsAttempt, signal: AbortSignal.timeout(remaining), pipelining: request.pipelining, statementNames: request.statementNames },
      request.listeners,
    )
  switch (settings.tls.attempt) {
    case 'disable':
      return attempt('plain')
    case 'prefer':
      return attempt('tls-or-plain')
    case 'require':
      return attempt('tls')
    case 'allow':
      // libpq's allow: plain first, TLS only if the server refuses the plain connection.
      return attempt('plain').catch(() => attempt('tls'))
  }
}

/** Open a connection to the first host that answers and fits; rejects with the last failure. */
export async function connect(request: ConnectRequest): Promise<WireConnection> {
  const { settings } = request
  const hosts = settings.loadBalanceHosts ? shuffled(settings.hosts) : settings.hosts
  const passes: ('preferred' | 'any')[] = settings.targetSessionAttrs === 'prefer-standby' ? ['preferred', 'any'] : ['any']
  let lastError: Error | undefined
  for (const pass of passes) {
    for (const address of hosts) {
      // libpq's connect_timeout is per host: this host's own budget covers opening it and asking what it is.
      const deadline = performance.now() + settings.connectTimeoutMs
      let conn: WireConnection
      try {
        conn = await openOne(request, address, deadline)
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err))
        continue
      }
      if (settings.targetSessionAttrs === 'any') return conn
      try {
        const role = await serverRole(conn, Math.max(1, Math.ceil(deadline - performance.now())))
        if (fitsTarget(settings.targetSessionAttrs, role, pass)) return conn
        lastError = new ServerRoleMismatch(
          `${address.host}:${address.port} is ${role.standby ? 'a standby' : role.readOnly ? 'read-only' : 'a read-write primary'}, not what target_session_attrs=${settings.targetSessionAttrs} asks for`,
        )
      } catch (err) {
        lastError = err instanceof Error ? err : new Error(String(err))
      }
      conn.terminate()
    }
  }
  throw lastError ?? new Error('no host to connect to')
}
