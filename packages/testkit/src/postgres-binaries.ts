/**
 * Where the PostgreSQL binaries of the embedded server are. The one place the testkit learns it:
 * if `@pgsteward/embedded-postgres` changes how it locates or places them, change this function.
 */
import { createRequire } from 'node:module'
import os from 'node:os'
import { pathToFileURL } from 'node:url'

/** Absolute paths of the server binaries the embedded package ships (it has no pg_basebackup, psql or pg_dump). */
export interface PostgresBinaries {
  readonly initdb: string
  readonly pg_ctl: string
  readonly postgres: string
}

/**
 * The binaries `@pgsteward/embedded-postgres` runs: the `embedded-postgres` package's platform
 * package (`@embedded-postgres/<platform>-<arch>`), resolved from where the wrapper resolves it.
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  // Not cached in a module-level promise: awaiting one created during another test would resume in
  // that test's async context (see stop-after-test.ts). Module loading is cached anyway.
  const fromWrapper = createRequire(import.meta.resolve('@pgsteward/embedded-postgres'))
  const fromLibrary = createRequire(fromWrapper.resolve('embedded-postgres'))
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`
  const entry = fromLibrary.resolve(platformPackage)
  const found = (await import(pathToFileURL(entry).href)) as Partial<PostgresBinaries>
  if (typeof found.initdb !== 'string' || typeof found.pg_ctl !== 'string' || typeof found.postgres !== 'string') {
    throw new Error(`${platformPackage} (${entry}) does not export initdb, pg_ctl and postgres paths`)
  }
  return { initdb: found.initdb, pg_ctl: found.pg_ctl, postgres: found.postgres }
}
