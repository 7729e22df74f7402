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

/** After a failed upload transaction: remove the asset's file if no committed row names it. */
export async function collectAssetFile(db: Database, store: BlobStore, md5: string, type: string): Promise<void> {
  const name = assetFileName(md5, type)
  await db.transaction(async (tx) => {
    await tx.advisoryLock(assetLockKey(name))
    const named = await tx.maybeOne(sql`SELECT 1 FROM assets WHERE md5 = ${md5} AND content_type = ${type}`)
    if (named === null) await store.remove(name)
  })
}
