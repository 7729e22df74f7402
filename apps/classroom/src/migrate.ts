/**
 * Versioned SQL migrations (`migrations/NNNN_name.up.sql` / `.down.sql`), applied in one
 * transaction under a transaction-scoped advisory lock, so two instances starting together
 * cannot both migrate: the second waits, then finds nothing left to do.
 */
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql, type Database } from 'pgsteward'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url))
const LOCK_KEY = 'classroom:migrations'

interface Migration {
  version: number
  name: string
  up: string
  down: string
}

async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = await readdir(dir)
  const ups = files.filter((f) => /^\d{4}_[a-z0-9_]+\.up\.sql$/.test(f)).sort()
  return Promise.all(
    ups.map(async (file) => {
      const [version, ...rest] = file.replace('.up.sql', '').split('_')
      const downFile = file.replace('.up.sql', '.down.sql')
      if (!files.includes(downFile)) throw new Error(`Migration ${file} has no ${downFile}: every migration needs its down file.`)
      return {
        version: Number(version),
        name: rest.join('_'),
        up: await readFile(path.join(dir, file), 'utf8'),
        down: await readFile(path.join(dir, downFile), 'utf8'),
      }
    }),
  )
}

async function ensureTable(db: Database): Promise<void> {
  await db.query(sql`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
}

/** Apply every pending migration; returns the versions applied by this call. */
export async function migrateUp(db: Database, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir)
  return db.transaction(async (tx) => {
    await tx.advisoryLock(LOCK_KEY)
    await ensureTable(db)
    const done = new Set((await tx.query<{ version: number }>(sql`SELECT version FROM schema_migrations`)).rows.map((r) => r.version))
    const applied: number[] = []
    for (const m of migrations) {
      if (done.has(m.version)) continue
      await tx.query(sql.unsafe(m.up))
      await tx.query(sql`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`)
      applied.push(m.version)
    }
    return applied
  })
}

/** Revert the most recent `steps` migrations. */
export async function migrateDown(db: Database, steps = 1, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir)
  return db.transaction(async (tx) => {
    await tx.advisoryLock(LOCK_KEY)
    await ensureTable(db)
    const latest = (await tx.query<{ version: number }>(sql`SELECT version FROM schema_migrations ORDER BY version DESC LIMIT ${steps}`)).rows
    for (const { version } of latest) {
      const m = migrations.find((x) => x.version === version)
      if (!m) throw new Error(`Migration ${version} is applied but its files are missing from ${dir}.`)
      await tx.query(sql.unsafe(m.down))
      await tx.query(sql`DELETE FROM schema_migrations WHERE version = ${version}`)
    }
    return latest.map((r) => r.version)
  })
}
