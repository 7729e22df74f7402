/**
 * Entry point of a host process: one per Node version the bench runs on, started by peer-hosts.ts
 * with that Node's binary and --expose-gc (the wait-queue workload reads the heap after full
 * collections). It only relays: each job goes to its peer's worker thread, each outcome back.
 * When the main process goes away (its IPC channel closes), the host closes its workers and ends.
 */
import { threadCpuClock } from './cpu-clock.ts'
import type { HostMessage, JobRequest } from './peer-jobs.ts'
import { PeerThreads } from './peer-threads.ts'

const send = process.send?.bind(process)
if (send === undefined) throw new Error('peer-host runs as a child process with an IPC channel, started by peer-hosts')

const threads = new PeerThreads()
const reply = (message: HostMessage): void => void send(message)

process.on('message', (request: JobRequest) => {
  threads.run(request.job, request.timeoutMs).then(
    (outcome) => reply({ kind: 'reply', id: request.id, ok: true, outcome }),
    (err: unknown) => reply({ kind: 'reply', id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  )
})
process.once('disconnect', () => {
  void threads.close().finally(() => process.exit(0))
})
reply({
  kind: 'ready',
  node: process.version,
  threadCpuSource: threadCpuClock().source,
  pgsteward: import.meta.resolve('pgsteward'),
  execArgv: process.execArgv,
})
