/**
 * Where a peer's time goes, from a V8 CPU profile taken in its own worker thread (node:inspector,
 * sampling) during one extra closed-loop run after the measured ones: the frames with the most
 * self time, and the self time grouped by what it belongs to (the library, its driver,
 * AsyncLocalStorage, promise machinery, the garbage collector). Only figures computed here from a
 * real profile reach the README; nothing is typed in.
 *
 * The profiled run is not one of the measured runs (profiling slows everything it samples), so
 * its throughput is not compared with anything; its CPU per operation is shown beside it as the
 * scale the percentages apply to.
 */
import { Session } from 'node:inspector'

/** The subset of a V8 CPU profile (Profiler.stop) read here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
  samples?: number[]
  timeDeltas?: number[]
}

export interface ProfileFrame {
  /** Function name (or `(anonymous)`), and where it is: package or file and line. */
  name: string
  where: string
  group: ProfileGroup
  /** Share of the thread's busy samples (idle excluded) spent in this frame itself. */
  selfPercent: number
}

export type ProfileGroup =
  | 'pgsteward'
  | 'driver (pg, postgres.js)'
  | 'other library'
  | 'AsyncLocalStorage'
  | 'promises and microtasks'
  | 'garbage collector'
  | 'timers'
  | 'bench loop'
  | 'Node and V8, other'

export interface ProfileSummary {
  /** Busy samples' time in ms (idle excluded) and the sampling interval in µs. */
  busyMs: number
  /** Every sample's time in ms, idle included: the profiled window (absent in runs saved before it was kept). */
  sampledMs?: number
  samples: number
  top: ProfileFrame[]
  groups: { group: ProfileGroup; selfPercent: number }[]
}

/** A closed-loop run in this worker with the sampling profiler on; resolves with the run and the summary. */
export async function withCpuProfile<T>(run: () => Promise<T>, samplingIntervalUs = 100): Promise<{ result: T; profile: CpuProfile }> {
  const session = new Session()
  session.connect()
  const post = <R>(method: string, params?: object): Promise<R> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, answer) => (err === null ? resolve(answer as R) : reject(err))))
  try {
    await post('Profiler.enable')
    await post('Profiler.setSamplingInterval', { interval: samplingIntervalUs })
    await post('Profiler.start')
    let result: T
    try {
      result = await run()
    } catch (err) {
      // Stopped so the session closes cleanly; the profile of a failed run is dropped.
      await post('Profiler.stop').catch(() => undefined)
      throw err
    }
    const { profile } = await post<{ profile: CpuProfile }>('Profiler.stop')
    return { result, profile }
  } finally {
    session.disconnect()
  }
}

const NON_FRAMES = new Set(['(idle)'])

function groupOf(functionName: string, url: string): ProfileGroup {
  if (functionName === '(garbage collector)') return 'garbage collector'
  if (url.includes('/pgsteward/dist/') || url.includes('/packages/pgsteward/')) return 'pgsteward'
  if (/\/node_modules\/(pg|pg-pool|pg-protocol|pg-types|pg-connection-string|pgpass|postgres)\//.test(url)) return 'driver (pg, postgres.js)'
  if (url.includes('/node_modules/')) return 'other library'
  if (url.includes('/bench/dist/')) return 'bench loop'
  if (url.includes('async_context_frame') || url.includes('async_local_storage') || url.includes('async_hooks')) return 'AsyncLocalStorage'
  if (functionName === 'runMicrotasks' || url.includes('internal/process/task_queues') || url.includes('internal/process/promises'))
    return 'promises and microtasks'
  if (url.includes('internal/timers') || url === 'node:timers') return 'timers'
  return 'Node and V8, other'
}

function whereOf(url: string, lineNumber: number): string {
  if (url === '') return 'V8'
  const packaged = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url)
  const file =
    packaged !== null
      ? `${packaged[1]}/${packaged[2]}`
      : url.includes('/pgsteward/dist/')
        ? `pgsteward/${url.slice(url.indexOf('/pgsteward/dist/') + '/pgsteward/dist/'.length)}`
        : url.replace(/^file:\/\/.*\/bench\/dist\//, 'bench/').replace(/^file:\/\//, '')
  return `${file}:${lineNumber + 1}`
}

/** The top `count` frames by self time and the self time by group, as shares of the busy samples. */
export function summariseProfile(profile: CpuProfile, count = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  const self = new Map<string, { name: string; where: string; group: ProfileGroup; us: number }>()
  let busyUs = 0
  let sampledUs = 0
  let busySamples = 0
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i] as number)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    // A sample's time is the gap to the next one (V8 records each delta before its sample).
    const us = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0)
    sampledUs += us
    if (NON_FRAMES.has(functionName)) continue
    busyUs += us
    busySamples++
    const name = functionName === '' ? '(anonymous)' : functionName
    const where = whereOf(url, lineNumber)
    const key = `${name}\u0000${where}`
    const entry = self.get(key) ?? { name, where, group: groupOf(functionName, url), us: 0 }
    entry.us += us
    self.set(key, entry)
  }
  const share = (us: number): number => (busyUs > 0 ? (us / busyUs) * 100 : 0)
  const groups = new Map<ProfileGroup, number>()
  for (const entry of self.values()) groups.set(entry.group, (groups.get(entry.group) ?? 0) + entry.us)
  return {
    busyMs: busyUs / 1_000,
    sampledMs: sampledUs / 1_000,
    samples: busySamples,
    top: [...self.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, count)
      .map((entry) => ({ name: entry.name, where: entry.where, group: entry.group, selfPercent: share(entry.us) })),
    groups: [...groups].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, selfPercent: share(us) })),
  }
}
