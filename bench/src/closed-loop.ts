/**
 * The load generator of every pooled workload: N async workers, each running the operation
 * again as soon as the previous one settles (a closed loop), through a warm-up and then a
 * measured window. Operations are counted when they complete inside the window, so neither
 * the ramp-up nor the drain at the end is in the figures. The warm-up starts at the first
 * completed operation, not at the start: on a loaded machine opening the pool's connections can
 * take longer than a whole short window, which would otherwise be measured empty.
 */
import { performance } from 'node:perf_hooks'
import { processCpuMicros, threadCpuClock } from './cpu-clock.ts'
import type { RunSample } from './results.ts'
import { LatencyHistogram } from './stats.ts'
import { withTimeLimit } from './time-limit.ts'

export type Operation = () => Promise<unknown>

export interface ClosedLoopOptions {
  workers: number
  warmupMs: number
  durationMs: number
  /** Longest the operations still in flight at the end may take; then the run fails. */
  drainTimeoutMs: number
}

export interface ClosedLoopRun {
  sample: RunSample
  latencies: LatencyHistogram
}

/** Hard bounds so that no loop can run away, whatever the operation does. */
const MAX_OPS_PER_RUN = 500_000_000
const MAX_ERRORS_PER_RUN = 1_000

export async function runClosedLoop(operation: Operation, options: ClosedLoopOptions): Promise<ClosedLoopRun> {
  const clock = threadCpuClock()
  const latencies = new LatencyHistogram()
  // Set by the first operation to complete: the pool is connected from then on.
  let measureFrom = NaN
  let measureUntil = NaN
  // The window's edges are taken by the first operation to complete past each deadline, not by
  // timers: acquire + release may never leave the microtask queue, so a timer would never fire.
  let windowStart = NaN
  let windowEnd = NaN
  let threadCpuAtStart = 0
  let processCpuAtStart = 0
  let threadCpu = NaN
  let processCpu = NaN
  let measuring = false
  let stopped = false
  let started = 0
  let ops = 0
  let errors = 0
  let firstError: string | undefined

  const closeWindow = (now: number): void => {
    threadCpu = clock.read() - threadCpuAtStart
    processCpu = processCpuMicros() - processCpuAtStart
    windowEnd = now
    measuring = false
    stopped = true
  }

  const observe = (now: number): void => {
    if (Number.isNaN(measureFrom)) {
      measureFrom = now + options.warmupMs
      measureUntil = measureFrom + options.durationMs
    }
    if (Number.isNaN(windowStart) && now >= measureFrom) {
      threadCpuAtStart = clock.read()
      processCpuAtStart = processCpuMicros()
      windowStart = now
      measuring = true
    }
    if (!stopped && now >= measureUntil) closeWindow(now)
  }

  const worker = async (): Promise<void> => {
    while (!stopped && started < MAX_OPS_PER_RUN) {
      started++
      const began = performance.now()
      let failed = false
      try {
        await operation()
      } catch (err) {
        failed = true
        errors++
        firstError ??= err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      }
      const ended = performance.now()
      observe(ended)
      if (measuring && !failed) {
        ops++
        latencies.record(ended - began)
      }
      if (errors >= MAX_ERRORS_PER_RUN) stopped = true
    }
  }

  const workers = Array.from({ length: options.workers }, () => worker())
  try {
    // The drain allowance also covers connecting before the first operation completes.
    await withTimeLimit(Promise.all(workers), options.warmupMs + options.durationMs + options.drainTimeoutMs, 'the run (connecting, warm-up, window and drain)')
  } finally {
    stopped = true
  }

  // Stopped early by errors: the window ends where the run did.
  if (Number.isNaN(windowEnd) && !Number.isNaN(windowStart)) closeWindow(performance.now())
  const seconds = Number.isNaN(windowStart) ? 0 : (windowEnd - windowStart) / 1_000
  return {
    latencies,
    sample: {
      opsPerSec: seconds > 0 ? ops / seconds : 0,
      ops,
      seconds,
      p50Ms: latencies.percentile(0.5),
      p99Ms: latencies.percentile(0.99),
      cpuPercent: seconds > 0 && Number.isFinite(threadCpu) ? (threadCpu / (seconds * 1e6)) * 100 : null,
      cpuMicrosPerOp: ops > 0 && Number.isFinite(threadCpu) ? threadCpu / ops : null,
      processCpuMicrosPerOp: ops > 0 && Number.isFinite(processCpu) ? processCpu / ops : null,
      errors,
      ...(firstError === undefined ? {} : { firstError }),
    },
  }
}
