/**
 * Entry point of a peer's worker thread. Each peer runs in a V8 isolate of its own for the whole
 * benchmark, as in an application that uses only that library, so that process-wide state one
 * library leaves behind (Slonik's and roarr's module-level AsyncLocalStorage keep a promise hook
 * on once used; pgsteward's does once a scope has run; JIT feedback; heap) does not slow the
 * peers measured after it. Runs as compiled JavaScript, no loader hooks (see build-host.ts).
 */
import { parentPort } from 'node:worker_threads'
import { runClosedLoop } from './closed-loop.ts'
import type { JobOutcome, JobReply, JobRequest, PeerJob } from './peer-jobs.ts'
import { loadPeer, PEERS } from './peers/registry.ts'
import { summariseProfile, withCpuProfile } from './profile-summary.ts'
import { withTimeLimit } from './time-limit.ts'
import { queueingRun } from './workloads/queueing-run.ts'

async function perform(job: PeerJob): Promise<JobOutcome> {
  const peer = await loadPeer(job.peer)
  const { label } = PEERS[job.peer]
  if (job.kind === 'queueing') return { kind: 'queueing', run: await queueingRun(peer, label, job) }
  const open = await peer.open(job.url, job.poolMax)
  try {
    const operation = open.operations[job.operation]
    if (operation === undefined) throw new Error(`${label} has no ${job.operation} operation`)
    if (job.profile === true) {
      const { result: run, profile } = await withCpuProfile(() => runClosedLoop(operation, job.loop))
      return { kind: 'closed-loop', sample: run.sample, latencies: run.latencies.snapshot(), profile: summariseProfile(profile) }
    }
    const run = await runClosedLoop(operation, job.loop)
    return { kind: 'closed-loop', sample: run.sample, latencies: run.latencies.snapshot() }
  } finally {
    await withTimeLimit(open.close(), 15_000, `closing ${label}`)
  }
}

async function answer({ id, job }: JobRequest): Promise<JobReply> {
  try {
    return { id, ok: true, outcome: await perform(job) }
  } catch (err) {
    return { id, ok: false, error: err instanceof Error ? err.message : String(err) }
  }
}

const port = parentPort
if (port === null) throw new Error('peer-worker runs as a worker thread, started by peer-threads')
port.on('message', (request: JobRequest) => {
  void answer(request).then((reply) => port.postMessage(reply))
})
