/**
 * Content-addressed files on local disk. A blob's name is its hash, so identical content is
 * stored once; writes go to a temporary file and are renamed into place, so a reader never sees
 * half a file. Names come only from our own hashes, never from clients.
 */
import { createHash, randomBytes } from 'node:crypto'
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'

/** Hooks to inject failures, used by tests and the race lab to prove files and rows stay in sync. */
export interface BlobFaults {
  /** Throw to make the write of this blob fail. */
  beforeWrite?: (name: string) => void
  /** Throw to make the removal of this blob fail. */
  beforeRemove?: (name: string) => void
}

/** Our own names only: hashes, and for assets a hash and a media type (which may hold `+`). */
const NAME = /^[a-z0-9][a-z0-9._+-]{15,199}$/
/** Every file being written ends so until it is renamed into place (uploads too: see assets/routes.ts). */
export const TEMPORARY_SUFFIX = '.tmp'

export class BlobStore {
  readonly dir: string
  readonly faults: BlobFaults

  constructor(dir: string, faults: BlobFaults = {}) {
    this.dir = dir
    this.faults = faults
  }

  static sha256(data: Buffer | string): string {
    return createHash('sha256').update(data).digest('hex')
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true })
  }

  pathOf(name: string): string {
    if (!NAME.test(name)) throw new Error(`invalid blob name ${JSON.stringify(name)}`)
    return path.join(this.dir, name)
  }

  async exists(name: string): Promise<boolean> {
    return access(this.pathOf(name)).then(
      () => true,
      () => false,
    )
  }

  /** Write the blob unless it is already there. */
  async put(name: string, data: Buffer | string): Promise<void> {
    const target = this.pathOf(name)
    if (await this.exists(name)) return
    this.faults.beforeWrite?.(name)
    const temporary = `${target}.${randomBytes(6).toString('hex')}${TEMPORARY_SUFFIX}`
    await writeFile(temporary, data)
    await rename(temporary, target)
  }

  /** Move an already written temporary file into place as this blob (or drop it if the blob exists). */
  async adopt(name: string, temporaryPath: string): Promise<void> {
    const target = this.pathOf(name)
    if (await this.exists(name)) {
      await rm(temporaryPath, { force: true })
      return
    }
    this.faults.beforeWrite?.(name)
    await rename(temporaryPath, target)
  }

  read(name: string): Promise<Buffer> {
    return readFile(this.pathOf(name))
  }

  async remove(name: string): Promise<void> {
    this.faults.beforeRemove?.(name)
    await rm(this.pathOf(name), { force: true })
  }

  /** The names of the blobs in place (temporary files left out). */
  async list(): Promise<string[]> {
    const entries = await readdir(this.dir)
    return entries.filter((entry) => !entry.endsWith(TEMPORARY_SUFFIX) && NAME.test(entry))
  }

  /**
   * Remove temporary files (`*.tmp`: writes and uploads in progress) older than `olderThanMs`:
   * left by a process that died mid-write. Younger ones may belong to a write still running.
   */
  async removeStaleTemporaries(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs
    let removed = 0
    for (const entry of await readdir(this.dir)) {
      if (!entry.endsWith(TEMPORARY_SUFFIX)) continue
      const file = path.join(this.dir, entry)
      const info = await stat(file).catch(() => undefined)
      if (info === undefined || info.mtimeMs > cutoff) continue
      await rm(file, { force: true })
      removed++
    }
    return removed
  }
}
