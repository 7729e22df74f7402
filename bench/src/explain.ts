/**
 * Profiles that explain the hardest targets, taken in the same `npm run bench` after the measured
 * runs: one extra closed-loop run per peer, with V8's sampling profiler on in the peer's own worker
 * (profile-summary.ts). Acquire + release on Node 20 and on Node 24 (pgsteward against pg-pool:
 * where the time of a session that runs nothing goes, with AsyncLocalStorage built on async_hooks
 * and on AsyncContextFrame), SELECT 1 at 1 and 10 workers (how much of the run the client is busy
 * at all) and at 1000 workers on the primary Node (pgsteward against postgres.js). These runs are never counted in any figure or verdict; the README shows
 * their summaries as the evidence behind a target that is out of reach.
 */
import type { PeerHosts, Runtime } from './peer-hosts.ts'
import { PEERS, type PeerId } from './peers/registry.ts'
import type { ProfileSummary } from './profile-summary.ts'
import { table, type Style } from './text-table.ts'
import type { BenchSettings } from './settings.ts'
import type { ThroughputWorkload } from './workloads/workload.ts'

export interface ProfiledRun {
  workloadId: string
  title: string
  runtime: string
  nodeVersion: string
  peer: PeerId
  label: string
  workers: number
  /** What the profile is the evidence of: the reason a target may stay out of reach. */
  why: string
  /** Of the profiled run itself (slowed by the profiler): the scale the shares apply to. */
  opsPerSec: number | null
  cpuMicrosPerOp: number | null
  summary: ProfileSummary | null
  error?: string
}

interface Explained {
  workloadId: string
  /** null: the primary Node. */
  major: number | null
  peers: PeerId[]
  why: string
}

const EXPLAINED: readonly Explained[] = [
  {
    workloadId: 'acquire-release',
    major: null,
    peers: ['pgsteward-app', 'pg-pool'],
    why: 'On Node 20 AsyncLocalStorage is built on async_hooks: once a store has run, every promise in the process calls its hooks, and a session that runs nothing is little but promises. pgsteward needs the store to know which scope a statement belongs to (a `db.query` inside a transaction joins it; one that would wait for a second connection while holding the first is refused as a deadlock). pg-pool\'s worker never runs a store, so it pays nothing for it. The group "AsyncLocalStorage" below is that cost; Node 22 and later replace the hooks with AsyncContextFrame (the Node 24 profile after this one).',
  },
  {
    workloadId: 'acquire-release',
    major: 24,
    peers: ['pgsteward-app', 'pg-pool'],
    why: 'On Node 24 AsyncLocalStorage costs a copy of the context frame per `run`, once per session, and nothing per promise.',
  },
  {
    workloadId: 'select-one-1',
    major: null,
    peers: ['pgsteward', 'pg-pool'],
    why: "One worker: each statement waits for the answer to the one before it, so nothing queues and nothing can be pipelined. The client thread is idle for most of the run (its busy share below; the profiler's own sampling adds to it): the rest of each round trip is the kernel and the server, the same for every peer.",
  },
  {
    workloadId: 'select-one-10',
    major: null,
    peers: ['pgsteward', 'pg-pool'],
    why: "Ten workers on ten connections: one statement per connection at a time, nothing queues, nothing to pipeline, and every peer pays the same server work and the same round trips through the kernel per statement. What differs is the client's own work per statement, below for pgsteward and the peer most often best; on two cores that share is small beside what all peers share.",
  },
  {
    workloadId: 'select-one-1000',
    major: null,
    peers: ['pgsteward', 'postgres.js'],
    why: 'A thousand workers on ten connections: both pipeline, so what is left is the client CPU per statement (building and parsing messages, the allocations they leave to the garbage collector) and the writes to the socket.',
  },
]

/** Long enough for a few thousand samples at 100 µs, short beside the measured runs. */
const PROFILED_MS = 1_500

export interface ExplainContext {
  settings: BenchSettings
  url: string
  hosts: PeerHosts
  runtimes: readonly Runtime[]
  progress: (line: string) => void
  throwIfInterrupted: () => void
}

export async function profileHardTargets(workloads: readonly ThroughputWorkload[], context: ExplainContext): Promise<ProfiledRun[]> {
  const { settings } = context
  const runs: ProfiledRun[] = []
  for (const explained of EXPLAINED) {
    const workload = workloads.find((w) => w.id === explained.workloadId)
    const runtime = explained.major === null ? context.runtimes[0] : context.runtimes.find((r) => r.major === explained.major)
    if (workload === undefined || runtime === undefined) continue
    for (const peer of explained.peers) {
      const row = workload.rows.find((candidate) => candidate.peer === peer)
      if (row?.operation == null) continue
      context.throwIfInterrupted()
      const label = row.label ?? PEERS[peer].label
      const loop = { workers: workload.workers, warmupMs: settings.warmupMs, durationMs: PROFILED_MS, drainTimeoutMs: settings.drainTimeoutMs }
      const job = { kind: 'closed-loop', peer, operation: row.operation, url: context.url, poolMax: settings.poolMax, loop, profile: true } as const
      const base = {
        workloadId: workload.id,
        title: workload.title,
        runtime: runtime.id,
        nodeVersion: runtime.version,
        peer,
        label,
        workers: workload.workers,
        why: explained.why,
      }
      try {
        const outcome = await context.hosts.run(runtime, job, settings.warmupMs + PROFILED_MS + settings.drainTimeoutMs + 60_000)
        if (outcome.kind !== 'closed-loop') throw new Error(`unexpected ${outcome.kind} reply to a profiled run`)
        runs.push({ ...base, opsPerSec: outcome.sample.opsPerSec, cpuMicrosPerOp: outcome.sample.cpuMicrosPerOp, summary: outcome.profile ?? null })
        const top = outcome.profile?.top[0]
        context.progress(
          `[profile ${workload.id}] ${runtime.id} ${label}: ${outcome.sample.cpuMicrosPerOp?.toFixed(2) ?? 'n/a'} µs CPU/op profiled; top frame ${top === undefined ? 'n/a' : `${top.name} ${top.selfPercent.toFixed(1)}%`}`,
        )
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err)
        runs.push({ ...base, opsPerSec: null, cpuMicrosPerOp: null, summary: null, error })
        context.progress(`[profile ${workload.id}] ${runtime.id} ${label}: failed: ${error}`)
      }
    }
  }
  return runs
}

const GROUP_NOTE =
  'Self time by what it belongs to: "AsyncLocalStorage" is Node\'s own code for it (on Node 24 the AsyncContextFrame copied on every `run`); "promises and microtasks" is V8 running promise reactions; the garbage collector is what the allocations of an operation cost later.'

/** ", its thread busy 46% of the profiled run": the share of the profile's window that was not idle. */
function busyShare(run: ProfiledRun): string {
  const sampled = run.summary?.sampledMs
  if (run.summary == null || sampled === undefined || sampled <= 0) return ''
  return `, its thread busy ${Math.round((run.summary.busyMs / sampled) * 100)}% of the profiled run`
}

/** The README's section: for each profiled workload, self time by group and the top frames, peers side by side. */
export function profilesSection(runs: readonly ProfiledRun[], poolMax: number, style: Style): string {
  if (runs.length === 0) return ''
  const sets = [
    ...new Map(
      runs.map((run) => [`${run.workloadId}/${run.runtime}`, runs.filter((r) => r.workloadId === run.workloadId && r.runtime === run.runtime)]),
    ).values(),
  ]
  const parts = [
    `CPU profiles of one extra run per peer after the measured ones, in the peer's own worker (V8's sampling profiler, 100 µs). The profiler slows what it samples, so these runs are in no figure or verdict above; shares are of the worker thread's busy time. ${GROUP_NOTE}`,
  ]
  for (const set of sets) {
    const first = set[0] as ProfiledRun
    const pct = (n: number | undefined): string => (n === undefined ? '–' : `${n.toFixed(1)}%`)
    const scale = set
      .map(
        (run) =>
          `${run.label} ${run.error === undefined ? `${run.cpuMicrosPerOp?.toFixed(2) ?? 'n/a'} µs CPU/op, ${Math.round(run.opsPerSec ?? 0).toLocaleString('en-US')} ops/s${busyShare(run)}` : `failed: ${run.error}`}`,
      )
      .join('; ')
    const groups = [...new Set(set.flatMap((run) => run.summary?.groups.map((g) => g.group) ?? []))]
    const groupRows = groups.map((group) => [group, ...set.map((run) => pct(run.summary?.groups.find((g) => g.group === group)?.selfPercent))])
    const depth = Math.max(0, ...set.map((run) => run.summary?.top.length ?? 0))
    const frameRows = Array.from({ length: Math.min(depth, 10) }, (_, i) =>
      set.flatMap((run) => {
        const frame = run.summary?.top[i]
        return frame === undefined ? ['', ''] : [`${frame.name} (${frame.where})`, pct(frame.selfPercent)]
      }),
    )
    parts.push(
      style === 'markdown' ? `### ${first.title}: Node ${first.nodeVersion}` : `== Profile: ${first.title}: Node ${first.nodeVersion} ==`,
      first.why,
      `Profiled run, ${first.workers.toLocaleString('en-US')} worker${first.workers === 1 ? '' : 's'} on a pool of ${poolMax}: ${scale}.`,
      table(['self time by group', ...set.map((run) => run.label)], groupRows, style),
      table(
        set.flatMap((run) => [`${run.label}: top frames by self time`, 'self']),
        frameRows,
        style,
      ),
    )
  }
  return parts.join('\n\n')
}
