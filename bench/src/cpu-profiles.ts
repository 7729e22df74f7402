/**
 * Names for the V8 CPU profiles of `--cpu-prof`. Node writes one file per thread when the thread
 * ends, named `CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile`; these helpers give each the
 * name of what ran in it (`node24-pgsteward.cpuprofile`), so the profiles can be told apart.
 */
import { readdir, rename } from 'node:fs/promises'
import path from 'node:path'

/** The environment variable through which the main process tells a host where profiles go. */
export const PROFILE_DIR_ENV = 'PGSTEWARD_BENCH_PROFILE_DIR'
export const RUNTIME_ENV = 'PGSTEWARD_BENCH_RUNTIME'

/** Rename the profile(s) Node wrote for thread `threadId` of process `pid` to `<name>.cpuprofile`. */
export async function nameProfile(dir: string, pid: number, threadId: number, name: string): Promise<void> {
  const written = (await readdir(dir).catch(() => [] as string[])).filter(
    (file) => file.startsWith('CPU.') && file.includes(`.${pid}.${threadId}.`) && file.endsWith('.cpuprofile'),
  )
  const taken = new Set(await readdir(dir).catch(() => [] as string[]))
  for (const file of written) {
    // A peer whose worker was restarted (a job overran) has more than one.
    let target = `${name}.cpuprofile`
    for (let n = 2; taken.has(target); n++) target = `${name}-${n}.cpuprofile`
    taken.add(target)
    await rename(path.join(dir, file), path.join(dir, target))
  }
}
