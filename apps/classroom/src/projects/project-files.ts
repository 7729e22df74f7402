/**
 * Keeping project files on disk and project_files rows in step.
 *
 * A blob (named by its sha256) may be shared by many projects. Every step that can create or
 * remove a blob, or start or stop referencing one, holds a transaction-scoped advisory lock on
 * that blob's name. So a blob file exists whenever a committed row references it: a failed
 * write leaves no row (the transaction rolls back), a failed transaction leaves no new file
 * (it is collected afterwards), and a delete never removes a file someone else just referenced.
 *
 * Files a write stops referencing are not removed by that write: a reader that read the old rows
 * just before the commit reads their files just after it. The write records them as released,
 * in its own transaction, and a background sweep removes them once the grace period has passed
 * and they are still unreferenced (files/file-sweeper.ts).
 */
import { sql, type Database, type Transaction } from 'pgsteward'
import { badRequest } from '../http-errors.ts'
import { BlobStore } from '../files/blob-store.ts'

export interface FileInput {
  path: string
  content: string
}

export interface StoredFile {
  path: string
  sha256: string
  size: number
}

/** How `BlobStore.sha256` names a blob. */
const SHA256 = /^[0-9a-f]{64}$/

/** Relative paths of plain segments: no `..`, no absolute paths, no hidden tricks. */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/

export function checkPath(p: string): void {
  const segments = p.split('/')
  if (segments.length > 8 || !segments.every((s) => SEGMENT.test(s) && s !== '..' && s !== '.')) {
    throw badRequest(`files.path ${JSON.stringify(p)} is not allowed: use relative paths of letters, digits, '.', '_' and '-' (no '..', at most 8 levels).`)
  }
}

export function describeFiles(files: FileInput[]): StoredFile[] {
  const seen = new Set<string>()
  return files.map((f) => {
    checkPath(f.path)
    if (seen.has(f.path)) throw badRequest(`files.path ${JSON.stringify(f.path)} appears twice.`)
    seen.add(f.path)
    return { path: f.path, sha256: BlobStore.sha256(f.content), size: Buffer.byteLength(f.content) }
  })
}

/** Lock blobs in a fixed order so concurrent writers cannot deadlock on each other. */
async function lockBlobs(tx: Transaction, shas: Iterable<string>): Promise<void> {
  for (const sha of [...new Set(shas)].sort()) await tx.advisoryLock(`blob:${sha}`)
}

/** Inside a transaction: lock the blobs and make sure their files exist before rows reference them. */
export async function writeBlobs(tx: Transaction, store: BlobStore, files: FileInput[], described: StoredFile[]): Promise<void> {
  await lockBlobs(
    tx,
    described.map((d) => d.sha256),
  )
  for (let i = 0; i < files.length; i++) {
    const file = files[i]
    const meta = described[i]
    if (file && meta) await store.put(meta.sha256, file.content)
  }
}

/**
 * Inside a transaction: lock blobs that new rows will reference without writing them (a copy),
 * and confirm each file is still there: a concurrent delete may have collected it just before.
 */
export async function claimExistingBlobs(tx: Transaction, store: BlobStore, shas: string[]): Promise<boolean> {
  await lockBlobs(tx, shas)
  for (const sha of shas) if (!(await store.exists(sha))) return false
  return true
}

export async function insertFileRows(tx: Transaction, projectId: string, files: StoredFile[]): Promise<void> {
  if (files.length === 0) return
  await tx.query(sql`INSERT INTO project_files (project_id, path, sha256, size)
    SELECT ${projectId}::bigint, f.path, f.sha256, f.size
    FROM unnest(${files.map((f) => f.path)}::text[], ${files.map((f) => f.sha256)}::text[], ${files.map((f) => f.size)}::int[]) AS f(path, sha256, size)`)
}

/** Inside the transaction that stops referencing them: these blobs' files go after the grace period. */
export async function releaseBlobs(tx: Transaction, shas: readonly string[]): Promise<void> {
  if (shas.length === 0) return
  await tx.query(sql`INSERT INTO blob_releases (sha256)
    SELECT DISTINCT s FROM unnest(${[...new Set(shas)].sort()}::text[]) AS s ORDER BY s
    ON CONFLICT (sha256) DO UPDATE SET released_at = now()`)
}

/**
 * Remove blob files no committed row references, unless a write released them less than
 * `graceMs` ago (a reader may still need them: the sweep takes them later). Each blob is checked
 * under its lock in its own short transaction, after the transaction that dropped (or failed to
 * add) the reference ended.
 */
export async function collectBlobs(db: Database, store: BlobStore, shas: Iterable<string>, graceMs: number): Promise<string[]> {
  const removed: string[] = []
  for (const sha of new Set(shas)) {
    await db.transaction(async (tx) => {
      await tx.advisoryLock(`blob:${sha}`)
      const used = await tx.maybeOne(sql`SELECT 1 FROM project_files WHERE sha256 = ${sha} LIMIT 1`)
      if (used !== null) {
        // Referenced again since it was released: nothing left to collect.
        await tx.query(sql`DELETE FROM blob_releases WHERE sha256 = ${sha}`)
        return
      }
      const recent = await tx.maybeOne(
        sql`SELECT 1 FROM blob_releases WHERE sha256 = ${sha} AND released_at > now() - make_interval(secs => ${graceMs / 1000})`,
      )
      if (recent !== null) return
      await store.remove(sha)
      await tx.query(sql`DELETE FROM blob_releases WHERE sha256 = ${sha}`)
      removed.push(sha)
    })
  }
  return removed
}

/** Released blobs whose grace period is over: the sweep's candidates, oldest first. */
export async function dueReleases(db: Database, graceMs: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ sha256: string }>(sql`SELECT sha256 FROM blob_releases
    WHERE released_at <= now() - make_interval(secs => ${graceMs / 1000}) ORDER BY released_at LIMIT ${limit}`)
  return rows.map((row) => row.sha256)
}

/** Of these file names, the blobs no row references now (candidates: `collectBlobs` checks each under its lock). */
export async function unreferencedBlobs(db: Database, fileNames: readonly string[]): Promise<string[]> {
  // A file not named by a sha256 is not a blob of ours: never a candidate.
  const shas = fileNames.filter((name) => SHA256.test(name))
  if (shas.length === 0) return []
  const { rows } = await db.query<{ sha256: string }>(sql`SELECT DISTINCT sha256 FROM project_files WHERE sha256 = ANY(${shas}::text[])`)
  const referenced = new Set(rows.map((row) => row.sha256))
  return shas.filter((sha) => !referenced.has(sha))
}
