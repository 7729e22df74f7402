/**
 * Where `db.read` runs: on a standby that has replayed the writes the read must see, else on the
 * primary. Each replica is a database of its own (its own pool, the same machinery), lent for a
 * read-only transaction; the first statement on the borrowed connection checks that the server
 * is a standby and, when there is a write token, that `pg_last_wal_replay_lsn()` has reached it.
 * A standby that is behind is passed over (or, within `replicaWaitMs`, looked at again); one
 * that cannot be reached is skipped for a second. Nothing is ever read from a standby that has
 * not replayed the token: the check runs on the very connection the read then uses, and a
 * standby's replay position only moves forward.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { AdminShutdownError, ConnectionError, ConnectionLostError } from '../errors/error-classes.js'
import type { HealthReport, ReplicaHealth } from '../health.js'
import type { PoolStats } from '../pool/pool-events.js'
import type { Scope } from '../scope/scope.js'
import type { Transaction, TransactionOptions } from '../scope/scope-types.js'
import { sql } from '../sql.js'

/** How long a replica that could not be reached is skipped before a read tries it again. */
const DOWN_FOR_MS = 1_000
/** Between two looks at the standbys' replay positions while `replicaWaitMs` allows waiting. */
const POLL_MS = 10

/** The standby has not replayed the token yet. */
class Behind extends Error {}
/** The server is not (or no longer) a standby: promoted, or the wrong URL. */
class NotStandby extends Error {}

/** What the router needs of a replica's database. */
export interface ReplicaDatabase {
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>
  health(options?: { timeoutMs?: number }): Promise<HealthReport>
  stats(): PoolStats
  close(options?: { timeoutMs?: number }): Promise<void>
}

interface Replica {
  readonly db: ReplicaDatabase
  readonly server: string
  reads: number
  downUntil: number
}

/**
 * Where `db.read` calls ran, per replica and on the primary; from `db.readStats()`.
 * @example
 * ```ts
 * const { onReplica, onPrimaryBehind, onPrimaryDown, replicas } = db.readStats()
 * for (const r of replicas) console.log(r.server, r.reads, r.down ? 'down' : 'up', r.pool.inUse)
 * ```
 */
export interface ReadStats {
  /** Reads that ran on a standby. */
  onReplica: number
  /** Reads that ran on the primary because no standby had replayed their write token (after `replicaWaitMs`). */
  onPrimaryBehind: number
  /** Reads that ran on the primary because no standby could be reached (or none is configured). */
  onPrimaryDown: number
  /** Each replica, in the order of the `replicas` option. */
  replicas: {
    /** Where it is: `host:port as user to database name`, never the password. */
    server: string
    /** Reads that ran on it. */
    reads: number
    /** It could not be reached lately and is skipped for now (tried again within a second). */
    down: boolean
    /** Its pool's gauges and counters. */
    pool: PoolStats
  }[]
}

export interface RouteOptions {
  signal: AbortSignal | undefined
  timeoutMs: number | undefined
  /** The token the read must see, if any. */
  token: string | undefined
  /** Run `fn` with `tx` as the current scope of the primary database too, so `db.query` inside joins it. */
  join: <T>(tx: Transaction, fn: (tx: Transaction) => Promise<T>) => Promise<T>
  /** The read on the primary. */
  onPrimary: <T>(fn: (tx: Transaction) => Promise<T>) => Promise<T>
}

function unreachable(err: unknown): boolean {
  return err instanceof ConnectionError || err instanceof ConnectionLostError || err instanceof AdminShutdownError
}

export class ReadRouter {
  readonly #replicas: Replica[]
  readonly #waitMs: number
  #next = 0
  #onReplica = 0
  #onPrimaryBehind = 0
  #onPrimaryDown = 0

  constructor(replicas: readonly { db: ReplicaDatabase; server: string }[], waitMs: number) {
    this.#replicas = replicas.map((r) => ({ ...r, reads: 0, downUntil: 0 }))
    this.#waitMs = waitMs
  }

  async read<T>(fn: (tx: Transaction) => Promise<T>, route: RouteOptions): Promise<T> {
    const n = this.#replicas.length
    const waitUntil = performance.now() + this.#waitMs
    const txOptions: TransactionOptions = { readOnly: true }
    if (route.signal !== undefined) txOptions.signal = route.signal
    if (route.timeoutMs !== undefined) txOptions.timeoutMs = route.timeoutMs
    let behind = false
    for (;;) {
      behind = false
      // Round robin: each read starts at the next replica.
      const first = this.#next++ % Math.max(1, n)
      for (let i = 0; i < n; i++) {
        const replica = this.#replicas[(first + i) % n] as Replica
        if (replica.downUntil > performance.now()) continue
        try {
          const value = await replica.db.transaction((tx) => this.#checkThenRun(tx, route, fn), txOptions)
          replica.reads++
          this.#onReplica++
          return value
        } catch (err) {
          if (err instanceof Behind) {
            behind = true
            continue
          }
          // Lost mid-read too: the read is re-run on another server, as a transaction is on a retry.
          if (err instanceof NotStandby || unreachable(err)) {
            replica.downUntil = performance.now() + DOWN_FOR_MS
            continue
          }
          throw err
        }
      }
      if (!behind || performance.now() + POLL_MS > waitUntil) break
      await sleep(POLL_MS, undefined, { ref: false })
      route.signal?.throwIfAborted()
    }
    if (behind) this.#onPrimaryBehind++
    else this.#onPrimaryDown++
    return route.onPrimary(fn)
  }

  async #checkThenRun<T>(tx: Transaction, route: RouteOptions, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    if (route.token === undefined) {
      // PostgreSQL 14+ reports in_hot_standby on every connection: no round trip needed.
      const standby = (tx as Scope).lease.wire.inHotStandby ?? (await tx.one<{ standby: boolean }>(sql`SELECT pg_is_in_recovery() AS standby`)).standby
      if (!standby) throw new NotStandby()
    } else {
      const row = await tx.one<{ standby: boolean; replayed: boolean | null }>(
        sql`SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn() >= ${route.token}::pg_lsn AS replayed`,
      )
      if (!row.standby) throw new NotStandby()
      if (row.replayed !== true) throw new Behind()
    }
    return route.join(tx, fn)
  }

  /** Each standby's own health check, all at once. */
  async health(timeoutMs: number): Promise<ReplicaHealth[]> {
    return Promise.all(
      this.#replicas.map(async (r) => {
        const { status, latencyMs, reason } = await r.db.health({ timeoutMs })
        return reason === undefined ? { server: r.server, status, latencyMs } : { server: r.server, status, latencyMs, reason }
      }),
    )
  }

  stats(): ReadStats {
    const now = performance.now()
    return {
      onReplica: this.#onReplica,
      onPrimaryBehind: this.#onPrimaryBehind,
      onPrimaryDown: this.#onPrimaryDown,
      replicas: this.#replicas.map((r) => ({ server: r.server, reads: r.reads, down: r.downUntil > now, pool: r.db.stats() })),
    }
  }

  close(timeoutMs: number): Promise<void> {
    return Promise.all(this.#replicas.map((r) => r.db.close({ timeoutMs }))).then(() => undefined)
  }
}
