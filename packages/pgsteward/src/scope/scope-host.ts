/** What sessions, transactions and statements need from the database that opened them. */
import type { AsyncLocalStorage } from 'node:async_hooks'
import type { ResolvedOptions } from '../options/database-options.js'
import type { Pool } from '../pool/pool.js'
import type { Lease } from './lease.js'
import type { Scope } from './scope.js'
import type { Transaction, TransactionOptions } from './scope-types.js'

export interface ScopeHost {
  readonly als: AsyncLocalStorage<Scope>
  readonly pool: Pool
  readonly options: ResolvedOptions
  /** A top-level transaction on a lease: a session's `transaction()`, or the body of `db.transaction`. */
  runTransaction<T>(lease: Lease, parent: Scope | undefined, fn: (tx: Transaction) => Promise<T>, options: TransactionOptions | undefined): Promise<T>
  /** `db.transaction` itself, for `independent: true` from inside a scope. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>
}
