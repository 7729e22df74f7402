/**
 * The Node versions the peers run on (`--node 20,24`): the Node running the bench where its major
 * is the one asked for, otherwise the newest release of that major from the npm registry, fetched
 * once into the OS cache by the testkit's nodeBinary. The first is the primary: the targets are
 * judged on it. A secondary version that cannot be had is left out and said so; the primary must be.
 */
import type { PeerHosts, Runtime } from './peer-hosts.ts'

export interface RuntimeChoice {
  runtimes: Runtime[]
  /** Why a Node version asked for is not in the run. */
  missing: string[]
}

export async function resolveRuntimes(majors: readonly number[], hosts: PeerHosts, progress: (line: string) => void): Promise<RuntimeChoice> {
  const runtimes: Runtime[] = []
  const missing: string[] = []
  const runningMajor = Number(process.versions.node.split('.')[0])
  for (const [index, major] of majors.entries()) {
    const id = `node${major}`
    try {
      let binary = process.execPath
      let origin: Runtime['origin'] = 'running'
      if (major !== runningMajor) {
        progress(`Node ${major}: looking for its newest release (npm view node-${process.platform === 'win32' ? 'win' : process.platform}-${process.arch})...`)
        const { nodeBinary } = await import('@pgsteward/testkit')
        const fetched = await nodeBinary(major)
        binary = fetched.path
        origin = fetched.origin
      }
      const facts = await hosts.start(id, binary)
      progress(
        `Node ${major}: ${facts.version} (${origin === 'running' ? 'the Node running the bench' : `${binary}, ${origin}`}); client CPU per thread from ${facts.threadCpuSource}; pgsteward from ${facts.pgsteward}; flags ${facts.execArgv.join(' ') || 'none'}`,
      )
      runtimes.push({ id, major, binary, origin, ...facts })
    } catch (err) {
      const reason = `Node ${major} left out: ${err instanceof Error ? err.message : String(err)}`
      if (index === 0) throw new Error(`${reason} (it is the primary Node, on which the targets are judged)`, { cause: err })
      progress(reason)
      missing.push(reason)
    }
  }
  return { runtimes, missing }
}
