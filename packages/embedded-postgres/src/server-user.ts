/**
 * The account PostgreSQL runs as. PostgreSQL refuses to run as root, so under root it runs as the
 * unprivileged `postgres` user (created if missing); otherwise as the current user. Running as
 * another user means every path the server touches must be reachable by that user: a checkout in
 * root's home (mode 700) is not, and neither is anything below it.
 */
import { execFile, spawn } from 'node:child_process'
import { chown } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { EmbeddedServerError } from './embedded-server-error.ts'

const run = promisify(execFile)

export const SERVER_USER_NAME = 'postgres'

export interface ServerUser {
  name: string
  uid: number
  gid: number
}

async function lookUp(name: string): Promise<ServerUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])])
    return { name, uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) }
  } catch {
    return undefined
  }
}

let cached: Promise<ServerUser | undefined> | undefined

/** The user to run PostgreSQL as when it is not the current one (we are root); undefined otherwise. */
export function serverUser(): Promise<ServerUser | undefined> {
  cached ??= (async () => {
    if (process.getuid?.() !== 0) return undefined
    const existing = await lookUp(SERVER_USER_NAME)
    if (existing !== undefined) return existing
    try {
      await run('groupadd', ['--system', SERVER_USER_NAME]).catch(() => undefined)
      await run('useradd', ['--system', '--gid', SERVER_USER_NAME, '--no-create-home', '--shell', '/usr/sbin/nologin', SERVER_USER_NAME])
    } catch (err) {
      throw new EmbeddedServerError(
        `PostgreSQL cannot run as root and there is no \`${SERVER_USER_NAME}\` user to run it as, nor could one be created (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): create it with \`useradd --system ${SERVER_USER_NAME}\`.`,
      )
    }
    const created = await lookUp(SERVER_USER_NAME)
    if (created === undefined) throw new EmbeddedServerError(`Created the \`${SERVER_USER_NAME}\` user but cannot look it up with \`id\`.`)
    return created
  })()
  return cached
}

/** Spawn options that run a child as the server user (nothing when that is us). */
export function asUser(user: ServerUser | undefined): { uid?: number; gid?: number } {
  return user === undefined ? {} : { uid: user.uid, gid: user.gid }
}

/** Give a path we created to the server user, so it may write there. */
export async function handOver(target: string, user: ServerUser | undefined): Promise<void> {
  if (user !== undefined) await chown(target, user.uid, user.gid)
}

/** Every directory from `/` down to `target` (inclusive), outermost first. */
function ancestry(target: string): string[] {
  const dirs: string[] = []
  for (let dir = path.resolve(target); ; dir = path.dirname(dir)) {
    dirs.unshift(dir)
    if (path.dirname(dir) === dir) return dirs
  }
}

/**
 * The first existing directory on the way to `target` (which need not exist yet) that `user`
 * cannot enter, or undefined when it can reach it. Asked of the system as that user (`test -x`),
 * so ACLs and group memberships count as they will for the server.
 */
export async function firstBlockedDirectory(target: string, user: ServerUser | undefined): Promise<string | undefined> {
  if (user === undefined) return undefined
  // An ancestor that does not exist yet will be created by us, reachable: stop at the first one missing.
  const script = 'for d do [ -e "$d" ] || exit 0; [ -d "$d" ] && [ ! -x "$d" ] && { printf %s "$d"; exit 0; }; done; exit 0'
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script, 'sh', ...ancestry(target)], { ...asUser(user), cwd: '/', stdio: ['ignore', 'pipe', 'ignore'] })
    let text = ''
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()))
    child.on('error', reject)
    child.on('close', () => resolve(text))
  })
  return out === '' ? undefined : out
}
