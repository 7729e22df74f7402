/**
 * Where a cluster's files live. Normally in the data directory asked for. When the server runs as
 * another user (we are root) and that user cannot reach the directory (it is under root's home,
 * or any mode-700 directory), a new cluster is created under the steward home instead, and the
 * data directory asked for becomes a symbolic link to it: the cluster still belongs to that path
 * (deleting it resets the database, as it would have), but nobody has to open up their home.
 * An existing cluster is never moved: that case is refused with the directory and the fix.
 */
import { createHash } from 'node:crypto'
import { lstat, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises'
import path from 'node:path'
import { EmbeddedServerError } from './embedded-server-error.ts'
import { stewardHome } from './postgres-binaries.ts'
import { firstBlockedDirectory, type ServerUser } from './server-user.ts'

export interface ClusterLocation {
  /** The directory PostgreSQL is given (-D). */
  dir: string
  /** Set when the cluster lives elsewhere than the data directory asked for, which links to it. */
  linkedFrom: string | undefined
}

/** The relocated home of the cluster that belongs to `dataDir`: one per absolute path. */
function relocatedDir(dataDir: string): string {
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16)
  return path.join(stewardHome(), 'clusters', `${path.basename(dataDir)}-${key}`)
}

function unreachable(dataDir: string, blocked: string, user: ServerUser): EmbeddedServerError {
  return new EmbeddedServerError(
    `The PostgreSQL data directory ${dataDir} is below ${blocked}, which the user \`${user.name}\` that runs PostgreSQL cannot enter: ` +
      `move the data directory elsewhere (e.g. DATA_DIR=/var/lib/classroom), or let it through with \`setfacl -m u:${user.name}:x ${blocked}\` (or \`chmod o+x ${blocked}\`).`,
  )
}

async function isEmptyDirectory(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0
}

export async function clusterLocation(dataDir: string, user: ServerUser | undefined): Promise<ClusterLocation> {
  const absolute = path.resolve(dataDir)
  if (user === undefined) return { dir: absolute, linkedFrom: undefined }
  const info = await lstat(absolute).catch(() => undefined)
  if (info?.isSymbolicLink()) {
    const target = path.resolve(path.dirname(absolute), await readlink(absolute))
    const blocked = await firstBlockedDirectory(target, user)
    if (blocked !== undefined) throw unreachable(target, blocked, user)
    await mkdir(target, { recursive: true })
    return { dir: target, linkedFrom: absolute }
  }
  const blocked = await firstBlockedDirectory(absolute, user)
  if (blocked === undefined) return { dir: absolute, linkedFrom: undefined }
  if (info !== undefined) {
    // An existing cluster stays where it is; an empty directory (ours, from a failed first start) may go.
    if (!info.isDirectory() || !(await isEmptyDirectory(absolute))) throw unreachable(absolute, blocked, user)
    await rm(absolute, { recursive: true })
  }
  const target = relocatedDir(absolute)
  // Left by an earlier data directory of the same path that was deleted since: a reset.
  await rm(target, { recursive: true, force: true })
  await mkdir(target, { recursive: true })
  await mkdir(path.dirname(absolute), { recursive: true })
  await symlink(target, absolute)
  return { dir: target, linkedFrom: absolute }
}
