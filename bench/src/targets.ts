/**
 * The goals of issue 17, each judged from this run's own figures (never typed in) on the median
 * of per-repetition paired ratios and its bootstrap 95% interval (verdict.ts):
 *
 * - SELECT 1 at 1000 workers: pgsteward >= 1.10x the best peer;
 * - every other workload: pgsteward >= 1.0x the best peer; the transaction also >= 1.0x pg-pool
 *   with pg 8.23's pipelining;
 * - acquire + release with AsyncLocalStorage on: >= 1.5x pg-pool, on Node 24;
 * - 10,000 queued waiters: max / median wait <= 3, under 1 KB per waiter, none served out of order.
 *
 * "Best peer" is taken per repetition among the pooled peers on the same Node (pgbench is the
 * server's limit, not a peer). Throughput targets are judged on the primary Node (the first of
 * `--node`), except the one that names Node 24.
 */
import { bootstrapMedianInterval, type MedianInterval } from './bootstrap.ts'
import { opsByRepetition } from './measure.ts'
import { countReferences, ratiosToBestPeer } from './paired-ratios.ts'
import type { Runtime } from './peer-hosts.ts'
import { PEERS, type PeerId } from './peers/registry.ts'
import { times } from './report.ts'
import type { FairnessResult, RowResult, TargetResult, WorkloadResult } from './results.ts'
import { judgeAtLeast, judgeAtMost, judgeBelow, MIN_REPETITIONS_FOR_VERDICT } from './verdict.ts'
import type { ThroughputWorkload } from './workloads/workload.ts'

const SELECT_ONE_CONTESTED = 'select-one-1000'
const CONTESTED_GOAL = 1.1
const TRANSACTION = 'read-write-transaction'
const ACQUIRE_RELEASE = 'acquire-release'
const ALS_MAJOR = 24
const ALS_GOAL = 1.5
const MAX_OVER_MEDIAN = 3
const MAX_BYTES_PER_WAITER = 1_024

const intervalText = (interval: MedianInterval, format: (n: number) => string): string =>
  interval.n === 0 ? '' : `${format(interval.low)}–${format(interval.high)}`

/** Said beside a TIE that comes from too few repetitions rather than from the interval. */
function tooFew(n: number): string {
  return n < MIN_REPETITIONS_FOR_VERDICT ? `only ${n} repetitions, too few for a verdict; ` : ''
}

function notMeasured(name: string, runtime: string | null, goal: string, why: string): TargetResult {
  return { name, runtime, goal, measured: 'n/a', interval: '', verdict: 'n/a', detail: why }
}

function cpuText(row: RowResult | undefined): string {
  return row?.cpuMicrosPerOpMedian == null ? 'n/a' : `${row.cpuMicrosPerOpMedian.toFixed(1)} µs`
}

/** pgsteward's row against the best peer, or one named peer, on one Node. */
function ratioTarget(result: WorkloadResult, subject: PeerId, runtime: Runtime, goal: number, against: PeerId | 'best', name: string): TargetResult {
  const goalText = `>= ${times(goal)}`
  const onRuntime = result.rows.filter((row) => row.runtime === runtime.id)
  const own = onRuntime.find((row) => row.peer === subject && row.kind === 'subject')
  const peers = onRuntime.filter((row) => row.kind === 'peer' && (against === 'best' || row.peer === against))
  if (own === undefined || peers.length === 0) return notMeasured(name, runtime.id, goalText, 'not run')
  const { ratios, reference } = ratiosToBestPeer(opsByRepetition(own), new Map(peers.map((row) => [row.label, opsByRepetition(row)])))
  const values = ratios.filter((ratio): ratio is number => ratio !== null)
  if (values.length === 0)
    return notMeasured(
      name,
      runtime.id,
      goalText,
      `no repetition with both pgsteward and a peer completing${own.errors > 0 ? ` (pgsteward: ${own.errors} errors)` : ''}`,
    )
  const interval = bootstrapMedianInterval(values)
  const counts = Object.entries(countReferences(reference)).sort((a, b) => b[1] - a[1])
  const mostOften = peers.find((row) => row.label === counts[0]?.[0])
  const versus = against === 'best' ? `best: ${counts.map(([label, n]) => `${label} ${n}/${values.length}`).join(', ')}` : `vs ${PEERS[against].label}`
  const errors = own.errors > 0 ? `; pgsteward ${own.errors} errors` : ''
  return {
    name,
    runtime: runtime.id,
    goal: goalText,
    measured: times(interval.median),
    interval: intervalText(interval, times),
    verdict: judgeAtLeast(interval, goal),
    detail: `${tooFew(interval.n)}${versus}; client CPU/op pgsteward ${cpuText(own)}, ${mostOften?.label ?? 'peer'} ${cpuText(mostOften)}${errors}`,
  }
}

export function evaluateTargets(
  throughput: readonly WorkloadResult[],
  workloads: readonly ThroughputWorkload[],
  fairness: FairnessResult | null,
  runtimes: readonly Runtime[],
): TargetResult[] {
  const targets: TargetResult[] = []
  const primary = runtimes[0]
  const byId = new Map(throughput.map((result) => [result.id, result]))
  const subjectOf = (id: string): PeerId => workloads.find((w) => w.id === id)?.subject ?? 'pgsteward'

  if (primary !== undefined) {
    const contested = byId.get(SELECT_ONE_CONTESTED)
    if (contested !== undefined)
      targets.push(ratioTarget(contested, subjectOf(contested.id), primary, CONTESTED_GOAL, 'best', `${contested.title}: pgsteward / best peer`))
    for (const result of throughput) {
      if (result.id === SELECT_ONE_CONTESTED) continue
      targets.push(ratioTarget(result, subjectOf(result.id), primary, 1, 'best', `${result.title}: pgsteward / best peer`))
      if (result.id === TRANSACTION)
        targets.push(
          ratioTarget(result, subjectOf(result.id), primary, 1, 'pg-pool-pipelined', `${result.title}: pgsteward / ${PEERS['pg-pool-pipelined'].label}`),
        )
    }
  }

  const acquire = byId.get(ACQUIRE_RELEASE)
  if (acquire !== undefined) {
    const name = `${acquire.title}, AsyncLocalStorage on: pgsteward / pg-pool`
    const node24 = runtimes.find((runtime) => runtime.major === ALS_MAJOR)
    targets.push(
      node24 === undefined
        ? notMeasured(name, `node${ALS_MAJOR}`, `>= ${times(ALS_GOAL)}`, `Node ${ALS_MAJOR} is not in this run`)
        : ratioTarget(acquire, subjectOf(acquire.id), node24, ALS_GOAL, 'pg-pool', name),
    )
  }

  if (fairness !== null) targets.push(...waitQueueTargets(fairness))
  return targets
}

function waitQueueTargets(fairness: FairnessResult): TargetResult[] {
  const row = fairness.rows.find((candidate) => candidate.peer === 'pgsteward-app')
  const waiters = row?.waiters.toLocaleString('en-US') ?? '?'
  const ok = row?.runs.filter((run) => run.errors === 0) ?? []
  const failures =
    row === undefined || row.errors === 0
      ? ''
      : `; ${row.errors} failed runs, first: ${row.runs.find((run) => run.firstError !== undefined)?.firstError ?? '?'}`
  const spread = row?.maxOverMedian ?? null
  const bytes = row?.bytesPerWaiter ?? null
  const outOfOrder = ok.map((run) => run.servedOutOfOrder)
  const name = (what: string): string => `${waiters} queued waiters: ${what}`
  const runtime = fairness.runtime
  return [
    spread === null
      ? notMeasured(name('max / median wait'), runtime, `<= ${MAX_OVER_MEDIAN}`, `no run completed${failures}`)
      : {
          name: name('max / median wait'),
          runtime,
          goal: `<= ${MAX_OVER_MEDIAN}`,
          measured: spread.median.toFixed(2),
          interval: intervalText(spread, (n) => n.toFixed(2)),
          verdict: judgeAtMost(spread, MAX_OVER_MEDIAN),
          detail: `${tooFew(spread.n)}over ${spread.n} runs${failures}`,
        },
    bytes === null
      ? notMeasured(
          name('memory per waiter'),
          runtime,
          `< ${MAX_BYTES_PER_WAITER} B`,
          `no heap reading (the host runs with --expose-gc; did a run fail?)${failures}`,
        )
      : {
          name: name('memory per waiter'),
          runtime,
          goal: `< ${MAX_BYTES_PER_WAITER} B`,
          measured: `${Math.round(bytes.median)} B`,
          interval: intervalText(bytes, (n) => `${Math.round(n)} B`),
          verdict: judgeBelow(bytes, MAX_BYTES_PER_WAITER),
          detail: `${tooFew(bytes.n)}heap after full collections, over ${bytes.n} runs${failures}`,
        },
    outOfOrder.length === 0
      ? notMeasured(name('served out of order'), runtime, '0 in every run', `no run completed${failures}`)
      : {
          name: name('served out of order'),
          runtime,
          goal: '0 in every run',
          measured: String(Math.max(...outOfOrder)),
          interval: '',
          // One waiter served out of turn is a broken promise, not noise: no interval to weigh.
          verdict: outOfOrder.every((count) => count === 0) ? 'PASS' : 'MISS',
          detail: `most in any of ${outOfOrder.length} runs${failures}`,
        },
  ]
}
