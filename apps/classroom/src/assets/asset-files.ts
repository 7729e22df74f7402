/**
 * Keeping asset files on disk and asset rows in step. The upload's transaction puts the file in
 * place before it commits, under an advisory lock on the file's name, so a committed row always
 * has its file. A transaction that then fails leaves a file no row names: it is removed here,
 * under the same lock, unless a row for it exists after all (another upload of the same bytes
 * committed meanwhile, or the commit whose outcome was unknown did succeed).
 */
import { sql, type Database } from 'pgsteward'
import type { BlobStore } from '../files/blob-store.ts'

/** The file name of an asset: its md5 and a filesystem-safe form of its type. */
export const assetFileName = (md5: string, type: string): string => `${md5}.${type.replace(/[^a-z0-9.+-]/g, '_')}`

/** The advisory lock every step that creates, names or removes this asset's file holds. */
export const assetLockKey = (fileName: string): string => `asset:${fileName}`

/** What `assetFileName` makes: files named otherwise are not an asset's, and are never touched. */
const ASSET_FILE = /^[0-9a-f]{32}\.[a-z0-9.+_-]+$/

/** The md5 an asset file's name starts with. */
const md5Of = (fileName: string): string => fileName.slice(0, 32)

/** After a failed upload transaction: remove the asset's file if no committed row names it. */
export async function collectAssetFile(db: Database, store: BlobStore, md5: string, type: string): Promise<void> {
  await collectAssetFiles(db, store, [assetFileName(md5, type)])
}

/** Remove each of these asset files that no committed row names; the names of those removed. */
export async function collectAssetFiles(db: Database, store: BlobStore, fileNames: Iterable<string>): Promise<string[]> {
  const removed: string[] = []
  for (const name of new Set(fileNames)) {
    await db.transaction(async (tx) => {
      await tx.advisoryLock(assetLockKey(name))
      const { rows } = await tx.query<{ md5: string; content_type: string }>(sql`SELECT md5, content_type FROM assets WHERE md5 = ${md5Of(name)}`)
      if (rows.some((row) => assetFileName(row.md5, row.content_type) === name)) return
      await store.remove(name)
      removed.push(name)
    })
  }
  return removed
}

/** Of these asset file names, those no row names now (candidates: check each under its lock). */
export async function unnamedAssetFiles(db: Database, fileNames: readonly string[]): Promise<string[]> {
  const assetNames = fileNames.filter((name) => ASSET_FILE.test(name))
  if (assetNames.length === 0) return []
  const { rows } = await db.query<{ md5: string; content_type: string }>(
    sql`SELECT md5, content_type FROM assets WHERE md5 = ANY(${[...new Set(assetNames.map(md5Of))]}::text[])`,
  )
  const named = new Set(rows.map((row) => assetFileName(row.md5, row.content_type)))
  return assetNames.filter((name) => !named.has(name))
}
