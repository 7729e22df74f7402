/**
 * What this package's own modules (the pg facade, metrics, dashboards) need of a database, kept
 * off the public surface: `Database` has no public field that reaches its pool or scopes, and
 * this module is not in the package's `exports`.
 */
import type { AsyncLocalStorage } from 'node:async_hooks'
import type { ResolvedOptions } from './options/database-options.js'
import type { Pool } from './pool/pool.js'
import type { ScopeHost } from './scope/scope-host.js'
import type { Scope } from './scope/scope.js'

export interface DatabaseInternals {
  readonly host: ScopeHost
  readonly pool: Pool
  readonly als: AsyncLocalStorage<Scope>
  readonly options: ResolvedOptions
  /** Close the database (the facade's `end()`). */
  close(timeoutMs?: number): Promise<void>
  /**
   * With replicas: note that the caller's async context is writing through the primary (work the
   * facade runs outside pgsteward's own calls); call the function returned whenever a statement
   * of that work has settled, so `db.read` in the context sees it. Undefined without replicas.
   */
  markWrite?: (() => () => void) | undefined
}

const registry = new WeakMap<object, DatabaseInternals>()

export function registerInternals(db: object, internals: DatabaseInternals): void {
  registry.set(db, internals)
}

/** The internals of a database created by `createDatabase`. */
export function internalsOf(db: object): DatabaseInternals {
  const internals = registry.get(db)
  if (internals === undefined) throw new TypeError('Not a pgsteward database: create one with createDatabase(options).')
  return internals
}
