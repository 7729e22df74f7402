/**
 * The results as text: tables for the terminal, and the full tables as markdown
 * (bench/results/<run>/results.md). Formatting only; every figure comes from the result.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MedianInterval } from './bootstrap.ts'
import { profilesSection } from './explain.ts'
import { table, type Style } from './text-table.ts'
import { REPO_ROOT } from './machine.ts'
import { pgbenchSeconds } from './measure.ts'
import { MIN_REPETITIONS_FOR_VERDICT } from './verdict.ts'
import type { BenchResult, Comparison, EndToEndResult, FairnessResult, RowResult, TargetResult, WorkloadResult } from './results.ts'
import { medianOrNull } from './stats.ts'

export const rate = (n: number | null | undefined): string => (n == null || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'))
export const times = (n: number | null | undefined): string => (n == null || !Number.isFinite(n) ? '' : `${n.toFixed(2)}x`)
const micros = (n: number | null): string => (n === null ? 'n/a' : n < 10 ? n.toFixed(2) : n.toFixed(1))

export function ms(n: number | null): string {
  if (n === null || Number.isNaN(n)) return 'n/a'
  if (n < 1) return n.toFixed(3)
  if (n < 10) return n.toFixed(2)
  return n.toFixed(1)
}

export function intervalOf(interval: MedianInterval | null, format: (n: number) => string): string {
  return interval === null || interval.n === 0 ? '' : `${format(interval.low)}–${format(interval.high)}`
}

/** `1.07x (0.98–1.15x)`: a ratio's median and its 95% interval. */
export function ratioWithInterval(interval: MedianInterval): string {
  return interval.n === 0 ? 'n/a' : `${times(interval.median)} (${times(interval.low)}–${times(interval.high)})`
}

function heading(text: string, style: Style, level = 3): string {
  return style === 'markdown' ? `${'#'.repeat(level)} ${text}` : `== ${text} ==`
}

function bullets(lines: readonly string[], style: Style): string {
  return lines.map((line) => (style === 'markdown' ? `- ${line}` : `  * ${line}`)).join('\n')
}

const THROUGHPUT_HEADERS = [
  'peer',
  'Node',
  'ops/s median',
  '95% interval',
  'min–max',
  'client CPU µs/op',
  'client busy',
  'process CPU µs/op',
  'p50 ms',
  'p99 ms',
  'over best peer (95% interval)',
  'over pgbench best',
]

function comparisonCell(row: RowResult, result: WorkloadResult, repetitions: number): string {
  if (row.kind === 'subject') {
    const comparison = result.comparisons.find((c) => c.subjectKey === row.key)
    return comparison === undefined ? '' : ratioWithInterval(comparison.interval)
  }
  if (row.kind === 'peer' && row.runtime !== null) {
    // How often this peer was the one pgsteward was held against.
    const counts = result.comparisons.find((c) => c.runtime === row.runtime)?.bestPeerCounts
    const n = counts?.[row.label] ?? 0
    return counts === undefined ? '' : `best in ${n}/${repetitions}`
  }
  return ''
}

function throughputRow(row: RowResult, result: WorkloadResult, repetitions: number): string[] {
  const node = row.runtime ?? ''
  if (row.kind === 'n/a') return [row.label, node, 'n/a', '', '', '', '', '', '', '', '', '']
  return [
    row.label,
    node,
    rate(row.opsPerSec?.median),
    intervalOf(row.opsPerSec, rate),
    row.opsPerSecMin === null ? '' : `${rate(row.opsPerSecMin)}–${rate(row.opsPerSecMax)}`,
    micros(row.cpuMicrosPerOpMedian),
    row.cpuPercentMedian === null ? '' : `${row.cpuPercentMedian.toFixed(0)}%`,
    row.kind === 'pgbench' ? '' : micros(row.processCpuMicrosPerOpMedian),
    ms(row.p50Ms),
    ms(row.p99Ms),
    comparisonCell(row, result, repetitions),
    times(row.overPgbenchBest),
  ]
}

function rowNotes(rows: readonly RowResult[]): string[] {
  const notes = new Map<string, string>()
  const errors: string[] = []
  for (const row of rows) {
    const mean =
      row.kind === 'pgbench' && row.meanLatencyMs !== null ? `mean latency ${ms(row.meanLatencyMs)} ms (pgbench's log gives no usable percentiles)` : undefined
    const text = [row.note, mean].filter((part) => part !== undefined).join('; ')
    if (text !== '' && !notes.has(row.label)) notes.set(row.label, text)
    const failed = row.runs.find((run) => run?.firstError !== undefined)
    const where = row.runtime === null ? '' : `${row.runtime} `
    if (row.errors > 0) errors.push(`${where}${row.label}: ${row.errors} errors${failed?.firstError === undefined ? '' : `, first: ${failed.firstError}`}`)
  }
  return [...[...notes].map(([label, text]) => `${label}: ${text}`), ...errors]
}

function throughputSection(result: WorkloadResult, bench: BenchResult, style: Style): string {
  const { settings } = bench
  const pgbenchRun = result.rows.some((row) => row.kind === 'pgbench')
    ? ` (pgbench: -c ${result.workers} -j ${Math.min(2, result.workers)} -T ${pgbenchSeconds(settings, result.workers)}, its connections opened inside -T)`
    : ''
  const setup = `${result.workers.toLocaleString('en-US')} workers, pool max ${result.poolMax}, ${settings.repetitions} interleaved repetitions of ${settings.durationMs / 1_000} s after ${settings.warmupMs / 1_000} s warm-up${pgbenchRun}.`
  const reference = result.pgbenchReference
  const referenceNote =
    reference === null
      ? 'over pgbench best: no pgbench figure for this workload'
      : `over pgbench best: over ${reference.label} (${rate(reference.opsPerSec)} tps${reference.workloadId === result.id ? '' : `, from ${reference.workloadId}`})`
  const rows = style === 'console' ? result.rows.filter((row) => row.kind !== 'n/a') : result.rows
  const headers = style === 'console' ? ['peer', 'Node', 'ops/s', '95% interval', 'CPU µs/op', 'p99 ms', 'over best peer'] : THROUGHPUT_HEADERS
  const cells = rows.map((row) => {
    const full = throughputRow(row, result, settings.repetitions)
    return style === 'console' ? [full[0], full[1], full[2], full[3], full[5], full[8], full[9]].map((cell) => cell ?? '') : full
  })
  const notes =
    style === 'console' ? rows.filter((row) => row.errors > 0).flatMap((row) => rowNotes([row]).slice(-1)) : [...rowNotes(result.rows), referenceNote]
  return [
    heading(result.title, style),
    '',
    ...(style === 'markdown' ? [result.description, ''] : []),
    setup,
    '',
    table(headers, cells, style),
    ...(notes.length > 0 ? ['', bullets(notes, style)] : []),
  ].join('\n')
}

function fairnessSection(result: FairnessResult, style: Style): string {
  const headers = [
    'pool',
    'Node',
    'queued',
    'bytes/waiter',
    '95% interval',
    'median wait ms',
    'p99 wait ms',
    'max wait ms',
    'max/median',
    'served out of order',
    'errors',
  ]
  const rows = result.rows.map((row) => [
    row.label,
    result.runtime,
    row.waiters.toLocaleString('en-US'),
    row.bytesPerWaiter === null ? 'n/a' : rate(row.bytesPerWaiter.median),
    intervalOf(row.bytesPerWaiter, rate),
    ms(row.waitMedianMs),
    ms(row.waitP99Ms),
    ms(row.waitMaxMs),
    row.maxOverMedian === null ? 'n/a' : row.maxOverMedian.median.toFixed(2),
    row.servedOutOfOrder.toLocaleString('en-US'),
    row.errors.toString(),
  ])
  const explanation =
    'Medians over the runs (served out of order: the most in any run). With every waiter queued at once, max/median is about 2 whatever the serving order; "served out of order" (waiters served before one that queued earlier) is the first-come-first-served check.'
  return [heading(result.title, style), '', result.description, '', table(headers, rows, style), '', explanation].join('\n')
}

function endToEndSection(result: EndToEndResult, bench: BenchResult, style: Style): string {
  const { endToEnd } = bench.settings
  const setup = `autocannon ${result.autocannonVersion} -c ${result.connections}, ${endToEnd.repetitions} repetitions of ${endToEnd.seconds} s after a ${endToEnd.warmupSeconds} s warm-up; pool max ${result.poolMax}; Node ${bench.machine.node}.`
  const headers = [
    'service',
    'req/s median',
    'min–max',
    'p50 ms',
    'p99 ms',
    'non-2xx',
    'errors',
    'pool peak in use',
    'pool peak waiting',
    'acquire wait p99 ms',
  ]
  const row = [
    'classroom GET /projects/:id',
    rate(result.requestsPerSecMedian),
    `${rate(result.requestsPerSecMin)}–${rate(result.requestsPerSecMax)}`,
    ms(result.p50Ms),
    ms(result.p99Ms),
    result.non2xx.toLocaleString('en-US'),
    result.errors.toLocaleString('en-US'),
    `${result.peakInUse} / ${result.poolMax}`,
    result.peakWaiting.toLocaleString('en-US'),
    ms(result.acquireWaitP99Ms),
  ]
  const acquires = medianOrNull(result.runs.map((run) => run.acquiresPerRequest))
  const failed = result.runs.find((run) => run.firstError !== undefined)
  const notes = [
    'No peer comparison: this is pgsteward inside a real service (HTTP, JWT, JSON, file reads), so there is no like-for-like run with another pool; no target is set for it.',
    "req/s: autocannon's mean of per-second counts; p50/p99: medians of the repetitions' own percentiles (its histograms stay in its process). Errors include its timeouts.",
    `Pool figures from db.stats() sampled every 10 ms in the service: peaks over all repetitions; acquire wait p99 (max ${ms(result.acquireWaitMaxMs)} ms) over all ${result.acquireWaits.toLocaleString('en-US')} acquisitions since the service started, warm-up included; ${acquires === null ? 'n/a' : acquires.toFixed(2)} acquisitions per request; ${result.poolTimeouts} acquire timeouts.`,
    ...(failed?.firstError === undefined ? [] : [`a repetition failed: ${failed.firstError}`]),
    ...(result.failure === null ? [] : [`the workload failed: ${result.failure}`]),
  ]
  return [heading(result.title, style), '', result.description, setup, '', table(headers, [row], style), '', bullets(notes, style)].join('\n')
}

export function targetsTable(targets: readonly TargetResult[], style: Style, withDetail: boolean): string {
  const headers = ['target', 'Node', 'goal', 'median', '95% interval', 'verdict', ...(withDetail ? ['against; client CPU per op'] : [])]
  const rows = targets.map((t) => [
    t.name,
    t.runtime ?? '',
    t.goal,
    t.measured,
    t.interval,
    style === 'markdown' ? `**${t.verdict}**` : t.verdict,
    ...(withDetail ? [t.detail] : []),
  ])
  return table(headers, rows, style)
}

export function targetsSummary(targets: readonly TargetResult[]): string {
  const count = (verdict: TargetResult['verdict']): number => targets.filter((t) => t.verdict === verdict).length
  return `${targets.length} targets: ${count('PASS')} PASS, ${count('TIE')} TIE, ${count('MISS')} MISS${count('n/a') > 0 ? `, ${count('n/a')} not measured` : ''}.`
}

export const VERDICT_LEGEND = `Each throughput target is judged on the median of per-repetition paired ratios (pgsteward over the best pooled peer in the same repetition, on the same Node) and its bootstrap 95% interval: PASS when the whole interval clears the goal, MISS when the whole interval falls short, TIE when it straddles the goal (this run cannot tell). Fewer than ${MIN_REPETITIONS_FOR_VERDICT} repetitions always give TIE: no interval from so few values holds a median with 95% confidence.`

/**
 * pgsteward over the best peer for every workload and Node, as the targets measure it (no scope
 * in the process) and as an application runs it (a scope has run): one compact matrix.
 */
export function comparisonMatrix(bench: BenchResult, style: Style): string {
  const runtimes = bench.machine.runtimes
  const headers = ['workload', ...runtimes.flatMap((r) => [`${r.id}: pgsteward`, `${r.id}: as an application runs it`])]
  const rows = bench.throughput.map((result) => {
    const cell = (comparison: Comparison | undefined): string => (comparison === undefined ? '' : ratioWithInterval(comparison.interval))
    return [
      result.title,
      ...runtimes.flatMap((runtime) => {
        const forRuntime = result.comparisons.filter((c) => c.runtime === runtime.id)
        const peerOf = (c: Comparison): string | null => result.rows.find((row) => row.key === c.subjectKey)?.peer ?? null
        const fresh = forRuntime.find((c) => peerOf(c) === 'pgsteward')
        const app = forRuntime.find((c) => peerOf(c) === 'pgsteward-app')
        // Sessions and transactions are scopes: they have no run without AsyncLocalStorage.
        return [fresh === undefined && app !== undefined ? '(a scope: see right)' : cell(fresh), cell(app)]
      }),
    ]
  })
  return table(headers, rows, style)
}

/** A file URL as a path inside the repository where it is one. */
function displayPath(url: string): string {
  const file = url.startsWith('file:') ? fileURLToPath(url) : url
  const relative = path.relative(REPO_ROOT, file)
  return relative.startsWith('..') ? file : relative
}

export function environmentLines(bench: BenchResult): string[] {
  const m = bench.machine
  const versions = Object.entries(m.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')
  const load = (values: number[]): string => values.map((v) => v.toFixed(2)).join(' / ')
  const runtimes = m.runtimes
    .map(
      (r, i) =>
        `${r.version}${i === 0 ? ' (primary: the targets)' : ''}${r.origin === 'running' ? '' : ' (from the npm registry)'}, client CPU per thread from ${r.threadCpuSource}`,
    )
    .join('; ')
  return [
    `Date: ${m.date}; host: ${m.hostname}; mode: ${bench.mode} (${(bench.wallSeconds / 60).toFixed(1)} min wall)`,
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; load average (1 / 5 / 15 min) ${load(bench.loadAverage.start)} before, ${load(bench.loadAverage.end)} after`,
    `Peers ran on Node ${runtimes}. The bench itself (pgbench, the classroom service, the statistics) on Node ${m.node}.`,
    `pgsteward as built: the hosts resolved it to ${[...new Set(m.runtimes.map((r) => displayPath(r.pgsteward)))].join(', ')} and ran with ${[...new Set(m.runtimes.map((r) => r.execArgv.join(' ') || 'no flags'))].join(', ')} (no loader).`,
    `Server (${m.server === 'embedded' ? 'embedded, loopback, fsync off' : 'DATABASE_URL'}): ${m.postgres}`,
    `Libraries: ${versions}; ${m.pgbench ?? 'pgbench not found'}; pgsteward commit ${m.pgstewardCommit ?? 'unknown'}`,
  ]
}

export function renderConsole(bench: BenchResult): string {
  const sections = [
    `pgsteward benchmark\n${environmentLines(bench).join('\n')}`,
    ...bench.throughput.map((result) => throughputSection(result, bench, 'console')),
    ...(bench.fairness === null ? [] : [fairnessSection(bench.fairness, 'console')]),
    ...(bench.endToEnd === null ? [] : [endToEndSection(bench.endToEnd, bench, 'console')]),
    `${heading('pgsteward over the best peer', 'console')}\n\n${comparisonMatrix(bench, 'console')}`,
    `${heading('Targets', 'console')}\n\n${targetsTable(bench.targets, 'console', false)}\n\n${targetsSummary(bench.targets)}`,
  ]
  return sections.join('\n\n') + '\n'
}

/** The full tables, for results.md beside the run's JSON and charts. */
export function renderFullMarkdown(bench: BenchResult, chartNames: readonly string[]): string {
  const sections = [
    `# pgsteward benchmark: full tables`,
    `Generated by \`npm run bench\`${bench.mode === 'quick' ? ' -- --quick (short runs: indicative only)' : ''}; the summary is in [the bench README](${bench.published ? '../../README.md' : 'README.md'}).`,
    bullets(environmentLines(bench), 'markdown'),
    `## Targets\n\n${VERDICT_LEGEND}\n\n${targetsTable(bench.targets, 'markdown', true)}\n\n${targetsSummary(bench.targets)}`,
    `## pgsteward over the best peer, every workload and Node\n\nMedian of per-repetition ratios (95% interval). "As an application runs it": one \`db.session\` ran first in its process, so its AsyncLocalStorage is on.\n\n${comparisonMatrix(bench, 'markdown')}`,
    ...(chartNames.length > 0 ? [`## Charts\n\n${chartNames.map((name) => `![${name}](${name})`).join('\n\n')}`] : []),
    '## Workloads',
    `Client CPU µs/op: the peer's worker thread (or pgbench's whole process); client busy: the share of the measured window that thread was on a CPU (100% is one core kept busy; well below it, the client was waiting for the server); process CPU µs/op: the peer's whole host process, V8's helper threads included. Rows on each Node are compared only with rows on the same Node.`,
    ...bench.throughput.map((result) => throughputSection(result, bench, 'markdown')),
    ...(bench.fairness === null ? [] : [fairnessSection(bench.fairness, 'markdown')]),
    ...(bench.endToEnd === null ? [] : [endToEndSection(bench.endToEnd, bench, 'markdown')]),
    ...((bench.profiles ?? []).length === 0 ? [] : [`## Where the time goes\n\n${profilesSection(bench.profiles ?? [], bench.settings.poolMax, 'markdown')}`]),
    ...(bench.notes.length > 0 ? [`## Notes\n\n${bullets(bench.notes, 'markdown')}`] : []),
  ]
  return sections.join('\n\n') + '\n'
}
