/**
 * At start-up, before any request: what a crash left on disk. Files are put in place before
 * their transaction commits (so a committed row always has its file), and failed transactions
 * remove theirs; only a process that died in between leaves a file no row names, or a temporary
 * file of a write it never finished. Each file is removed under the advisory lock its writers
 * take, after a recheck, so another instance sharing the database and directory cannot lose a
 * file it is about to commit; temporary files are removed only once they are an hour old.
 */
import { collectAssetFiles, unnamedAssetFiles } from '../assets/asset-files.ts'
import type { Database } from 'pgsteward'
import type { AppContext } from '../context.ts'
import type { BlobStore } from './blob-store.ts'
import { collectBlobs, unreferencedBlobs } from '../projects/project-files.ts'

/** A temporary file younger than this may be a write still running in another instance. */
export const STALE_TEMPORARY_MS = 60 * 60 * 1000
/** File names looked up per query. */
const BATCH = 1_000

export interface CrashLeftovers {
  temporaryFiles: number
  orphanFiles: number
}

/** How one store tells which of its files no row names, and removes them under their locks. */
interface OrphanRules {
  store: BlobStore
  /** Of these file names, those no row names now: candidates only. */
  candidates: (db: Database, names: readonly string[]) => Promise<string[]>
  /** Recheck each under its writers' lock and remove it if still unnamed; the names removed. */
  collect: (db: Database, store: BlobStore, names: readonly string[]) => Promise<string[]>
}

async function removeOrphans(db: Database, { store, candidates, collect }: OrphanRules): Promise<number> {
  const names = await store.list()
  let removed = 0
  for (let i = 0; i < names.length; i += BATCH) {
    removed += (await collect(db, store, await candidates(db, names.slice(i, i + BATCH)))).length
  }
  return removed
}

/**
 * Also run by the background sweep (every hour): files whose clean-up failed, or whose process
 * died before it, go then rather than at the next restart. Blobs released within the grace
 * period are left to the sweep of released blobs.
 */
export async function removeCrashLeftovers(ctx: Pick<AppContext, 'db' | 'projectFiles' | 'assetFiles' | 'config'>): Promise<CrashLeftovers> {
  const { db, projectFiles, assetFiles } = ctx
  const graceMs = ctx.config.replacedFilesGraceMs
  let temporaryFiles = 0
  for (const store of [projectFiles, assetFiles]) temporaryFiles += await store.removeStaleTemporaries(STALE_TEMPORARY_MS)
  const orphanFiles =
    (await removeOrphans(db, { store: projectFiles, candidates: unreferencedBlobs, collect: (d, store, names) => collectBlobs(d, store, names, graceMs) })) +
    (await removeOrphans(db, { store: assetFiles, candidates: unnamedAssetFiles, collect: collectAssetFiles }))
  return { temporaryFiles, orphanFiles }
}
