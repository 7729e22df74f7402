/**
 * Where the PostgreSQL binaries of the embedded server are, and who runs them: the one place the
 * testkit learns it, from `@pgsteward/embedded-postgres`, so a standby runs exactly what the
 * embedded server runs (copied where the server user can reach them when we are root).
 */
import { serverInstallation } from '@pgsteward/embedded-postgres'

/** Absolute paths of the server binaries the embedded package ships (it has no pg_basebackup, psql or pg_dump). */
export interface PostgresBinaries {
  readonly initdb: string
  readonly pg_ctl: string
  readonly postgres: string
}

export async function postgresBinaries(): Promise<PostgresBinaries> {
  const { initdb, pg_ctl, postgres } = await serverInstallation()
  return { initdb, pg_ctl, postgres }
}
