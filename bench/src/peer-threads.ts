/**
 * The host process's side of the peer workers: one worker thread per peer, started on its first
 * job and kept for the whole run, one job at a time (the runs never overlap). A job that
 * overruns its time limit terminates its worker; the next job of that peer starts a new one.
 */
import { Worker } from 'node:worker_threads'
import { nameProfile, PROFILE_DIR_ENV, RUNTIME_ENV } from './cpu-profiles.ts'
import type { JobOutcome, JobReply, JobRequest, PeerJob } from './peer-jobs.ts'
import type { PeerId } from './peers/registry.ts'

// Compiled beside this file (build-host.ts): plain JavaScript, no loader in the worker.
const ENTRY = new URL('./peer-worker.js', import.meta.url)

interface Pending {
  resolve: (outcome: JobOutcome) => void
  reject: (err: Error) => void
}

interface PeerThread {
  worker: Worker
  pending: Map<number, Pending>
}

export class PeerThreads {
  readonly #threads = new Map<PeerId, PeerThread>()
  #nextId = 1

  /** Perform `job` in its peer's worker; rejects with the worker's error or after `timeoutMs`. */
  run(job: PeerJob, timeoutMs: number): Promise<JobOutcome> {
    const thread = this.#threads.get(job.peer) ?? this.#start(job.peer)
    const id = this.#nextId++
    return new Promise<JobOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        thread.pending.delete(id)
        void this.#stop(job.peer, thread, new Error(`${job.peer} worker: job did not finish within ${timeoutMs} ms`))
        reject(new Error(`${job.peer}: ${job.kind} job did not finish within ${timeoutMs} ms; its worker was terminated`))
      }, timeoutMs)
      thread.pending.set(id, {
        resolve: (outcome) => {
          clearTimeout(timer)
          resolve(outcome)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      const request: JobRequest = { id, job, timeoutMs }
      thread.worker.postMessage(request)
    })
  }

  async close(): Promise<void> {
    const threads = [...this.#threads]
    await Promise.all(threads.map(([peer, thread]) => this.#stop(peer, thread, new Error('benchmark ended'))))
  }

  #start(peer: PeerId): PeerThread {
    const worker = new Worker(ENTRY, { name: `bench peer ${peer}` })
    const thread: PeerThread = { worker, pending: new Map() }
    this.#threads.set(peer, thread)
    worker.on('message', (reply: JobReply) => {
      const pending = thread.pending.get(reply.id)
      thread.pending.delete(reply.id)
      if (reply.ok) pending?.resolve(reply.outcome)
      else pending?.reject(new Error(reply.error))
    })
    worker.on('error', (err) => void this.#stop(peer, thread, err))
    worker.on('exit', (code) => void this.#stop(peer, thread, new Error(`${peer} worker exited with code ${code}`)))
    return thread
  }

  /** Fail the thread's jobs and end it; a replacement started meanwhile is left alone. */
  async #stop(peer: PeerId, thread: PeerThread, reason: Error): Promise<void> {
    if (this.#threads.get(peer) === thread) this.#threads.delete(peer)
    for (const pending of thread.pending.values()) pending.reject(reason)
    thread.pending.clear()
    const { threadId } = thread.worker
    await thread.worker.terminate()
    // With --cpu-prof, the worker's profile is written as it ends: give it the peer's name.
    const profileDir = process.env[PROFILE_DIR_ENV]
    if (profileDir !== undefined) await nameProfile(profileDir, process.pid, threadId, `${process.env[RUNTIME_ENV] ?? 'node'}-${peer}`).catch(() => undefined)
  }
}
