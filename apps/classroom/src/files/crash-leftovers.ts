/**
 * At start-up, before any request: what a crash left on disk. Files are put in place before
 * their transaction commits (so a committed row always has its file), and failed transactions
 * remove theirs; only a process that died in between leaves a file no row names, or a temporary
 * file of a write it never finished. Each file is removed under the advisory lock its writers
 * take, after a recheck, so another instance sharing the database and directory cannot lose a
 * file it is about to commit; temporary files are removed only once they are an hour old.
 */
import { collectAssetFiles, unnamedAssetFiles } from '../assets/asset-files.ts'
import type { AppContext } from '../context.ts'
import { collectBlobs, unreferencedBlobs } from '../projects/project-files.ts'

/** A temporary file younger than this may be a write still running in another instance. */
export const STALE_TEMPORARY_MS = 60 * 60 * 1000
/** File names looked up per query. */
const BATCH = 1_000

export interface CrashLeftovers {
  temporaryFiles: number
  orphanFiles: number
}

export async function removeCrashLeftovers(ctx: Pick<AppContext, 'db' | 'projectFiles' | 'assetFiles'>): Promise<CrashLeftovers> {
  const { db, projectFiles, assetFiles } = ctx
  let temporaryFiles = 0
  for (const store of [projectFiles, assetFiles]) temporaryFiles += await store.removeStaleTemporaries(STALE_TEMPORARY_MS)
  let orphanFiles = 0
  const blobs = await projectFiles.list()
  for (let i = 0; i < blobs.length; i += BATCH) {
    const candidates = await unreferencedBlobs(db, blobs.slice(i, i + BATCH))
    orphanFiles += (await collectBlobs(db, projectFiles, candidates)).length
  }
  const assets = await assetFiles.list()
  for (let i = 0; i < assets.length; i += BATCH) {
    const candidates = await unnamedAssetFiles(db, assets.slice(i, i + BATCH))
    orphanFiles += (await collectAssetFiles(db, assetFiles, candidates)).length
  }
  return { temporaryFiles, orphanFiles }
}
