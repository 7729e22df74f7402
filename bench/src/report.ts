/**
 * The results as text: tables for the terminal and the same tables as markdown (for
 * bench/results/latest.md and the README). Formatting only; every figure comes from the result.
 */
import type { BenchResult, EndToEndResult, FairnessResult, PeerRow, TargetCheck, ThroughputWorkloadResult } from './results.ts'
import { medianOrNull } from './stats.ts'
import { PGSTEWARD } from './workloads/workload.ts'

type Style = 'console' | 'markdown'

const THROUGHPUT_HEADERS = ['peer', 'ops/s median', 'min–max', 'p50 ms', 'p99 ms', 'client CPU %', 'pgsteward/peer', 'peer/pgbench best']
const FAIRNESS_HEADERS = ['pool', 'queued', 'bytes/waiter', 'median wait ms', 'p99 wait ms', 'max wait ms', 'max/median', 'served out of order', 'errors']
const END_TO_END_HEADERS = ['service', 'req/s median', 'min–max', 'p50 ms', 'p99 ms', 'non-2xx', 'errors', 'pool peak in use', 'pool peak waiting', 'acquire wait p99 ms']
const TARGET_HEADERS = ['target', 'goal', 'measured', 'result']

const rate = (n: number | null): string => (n === null ? 'n/a' : Math.round(n).toLocaleString('en-US'))
const ratio = (n: number | null): string => (n === null || !Number.isFinite(n) ? '' : `${n.toFixed(2)}x`)
const percent = (n: number | null): string => (n === null ? 'n/a' : Math.round(n).toString())

function ms(n: number | null): string {
  if (n === null || Number.isNaN(n)) return 'n/a'
  if (n < 1) return n.toFixed(3)
  if (n < 10) return n.toFixed(2)
  return n.toFixed(1)
}

function verdict(pass: boolean | null): string {
  if (pass === null) return 'n/a'
  return pass ? 'PASS' : 'MISS'
}

/** Right-align every column but the first, which holds names. */
function table(headers: string[], rows: string[][], style: Style): string {
  if (style === 'markdown') {
    const line = (cells: string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`
    const rule = `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`
    return [line(headers), rule, ...rows.map(line)].join('\n')
  }
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(' | ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n')
}

function throughputRow(row: PeerRow): string[] {
  if (row.kind === 'n/a') return [row.label, 'n/a', '', '', '', '', '', '']
  return [
    row.label,
    rate(row.opsPerSecMedian),
    `${rate(row.opsPerSecMin)}–${rate(row.opsPerSecMax)}`,
    ms(row.p50Ms),
    ms(row.p99Ms),
    percent(row.cpuPercentMedian),
    row.label === PGSTEWARD ? '1.00x' : ratio(row.pgstewardOverPeer),
    ratio(row.peerOverBestPgbench),
  ]
}

function rowNotes(rows: readonly PeerRow[]): string[] {
  const notes: string[] = []
  for (const row of rows) {
    const mean = row.kind === 'pgbench' && row.meanLatencyMs !== null ? `mean latency ${ms(row.meanLatencyMs)} ms (pgbench's log gives no usable percentiles)` : undefined
    const text = [row.note, mean].filter((part) => part !== undefined).join('; ')
    if (text !== '') notes.push(`${row.label}: ${text}`)
    const failed = row.runs.find((run) => run.firstError !== undefined)
    if (row.errors > 0) notes.push(`${row.label}: ${row.errors} errors${failed?.firstError === undefined ? '' : `, first: ${failed.firstError}`}`)
  }
  return notes
}

function throughputSection(result: ThroughputWorkloadResult, bench: BenchResult, style: Style): string {
  const { settings } = bench
  const setup = `${result.workers} workers, pool max ${result.poolMax}, ${settings.repetitions} repetitions of ${settings.durationMs / 1_000} s after ${settings.warmupMs / 1_000} s warm-up (pgbench: -c ${result.workers} -j 2 -T ${settings.pgbenchSeconds})`
  const reference = result.pgbenchReference
  const referenceNote =
    reference === null
      ? 'peer/pgbench: no pgbench figure for this workload'
      : `peer/pgbench best: over ${reference.label} (${rate(reference.opsPerSec)} tps${reference.workloadId === result.id ? '' : `, from workload ${reference.workloadId}`})`
  const notes = [...rowNotes(result.rows), referenceNote]
  const heading = style === 'markdown' ? `### ${result.title}` : `== ${result.title} ==`
  const bullet = style === 'markdown' ? '- ' : '  * '
  return [heading, '', result.description, setup, '', table(THROUGHPUT_HEADERS, result.rows.map(throughputRow), style), '', ...notes.map((note) => bullet + note)].join('\n')
}

function ownershipLine(bench: BenchResult): string {
  const o = bench.ownership
  if (o === null) return 'Ownership overhead: n/a (a run failed)'
  const perRepetition = o.perRepetitionPercent.map((p) => `${p.toFixed(1)}%`).join(', ')
  const cpu =
    o.cpuOverheadPercent === null || o.scopedCpuMicrosPerOp === null || o.poolOnlyCpuMicrosPerOp === null
      ? ''
      : ` Client CPU per op: ${o.scopedCpuMicrosPerOp.toFixed(1)} µs vs ${o.poolOnlyCpuMicrosPerOp.toFixed(1)} µs (${o.cpuOverheadPercent >= 0 ? '+' : ''}${o.cpuOverheadPercent.toFixed(1)}%).`
  return `Ownership overhead: ${o.overheadPercent.toFixed(1)}% fewer ops/s (db.query ${rate(o.scopedOpsPerSec)} ops/s vs db.pool path ${rate(o.poolOnlyOpsPerSec)} ops/s, medians); per repetition ${perRepetition}, their median ${o.pairedMedianPercent.toFixed(1)}%.${cpu}`
}

function fairnessSection(result: FairnessResult, style: Style): string {
  const rows = result.rows.map((row) => [
    row.label,
    row.waiters.toLocaleString('en-US'),
    row.bytesPerWaiterMedian === null ? 'n/a' : Math.round(row.bytesPerWaiterMedian).toLocaleString('en-US'),
    ms(row.waitMedianMs),
    ms(row.waitP99Ms),
    ms(row.waitMaxMs),
    Number.isNaN(row.maxOverMedian) ? 'n/a' : row.maxOverMedian.toFixed(2),
    row.servedOutOfOrder.toLocaleString('en-US'),
    row.errors.toString(),
  ])
  const heading = style === 'markdown' ? `### ${result.title}` : `== ${result.title} ==`
  const explanation =
    'Medians over the repetitions (served out of order: the most in any repetition). With every acquirer queued at once, max/median is about 2 whatever the serving order; "served out of order" (acquirers served before one that queued earlier) is the first-come-first-served check.'
  return [heading, '', result.description, '', table(FAIRNESS_HEADERS, rows, style), '', explanation].join('\n')
}

function endToEndSection(result: EndToEndResult, bench: BenchResult, style: Style): string {
  const { endToEnd } = bench.settings
  const setup = `autocannon ${result.autocannonVersion} -c ${result.connections}, ${endToEnd.repetitions} repetitions of ${endToEnd.seconds} s after a ${endToEnd.warmupSeconds} s warm-up; pool max ${result.poolMax}`
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
    'req/s: autocannon\'s mean of per-second counts; p50/p99: medians of the repetitions\' own percentiles (its histograms stay in its process). Errors include its timeouts.',
    `Pool figures from db.stats() sampled every 10 ms in the service: peaks over all repetitions; acquire wait p99 (max ${ms(result.acquireWaitMaxMs)} ms) over all ${result.acquireWaits.toLocaleString('en-US')} acquisitions since the service started, warm-up included; ${acquires === null ? 'n/a' : acquires.toFixed(2)} acquisitions per request; ${result.poolTimeouts} acquire timeouts.`,
    ...(failed?.firstError === undefined ? [] : [`a repetition failed: ${failed.firstError}`]),
    ...(result.failure === null ? [] : [`the workload failed: ${result.failure}`]),
  ]
  const heading = style === 'markdown' ? `### ${result.title}` : `== ${result.title} ==`
  const bullet = style === 'markdown' ? '- ' : '  * '
  return [heading, '', result.description, setup, '', table(END_TO_END_HEADERS, [row], style), '', ...notes.map((note) => bullet + note)].join('\n')
}

function targetsSection(targets: readonly TargetCheck[], style: Style): string {
  const heading = style === 'markdown' ? '### Targets' : '== Targets =='
  const passed = targets.filter((t) => t.pass === true).length
  const rows = targets.map((t) => [t.name, t.target, t.measured, verdict(t.pass)])
  return [heading, '', table(TARGET_HEADERS, rows, style), '', `${passed} of ${targets.length} targets met.`].join('\n')
}

function environmentLines(bench: BenchResult): string[] {
  const m = bench.machine
  const versions = Object.entries(m.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')
  return [
    `Date: ${m.date}; host: ${m.hostname}; mode: ${bench.mode} (${bench.wallSeconds.toFixed(0)} s wall); 1-min load average ${bench.loadAverage.start.toFixed(2)} at start, ${bench.loadAverage.end.toFixed(2)} at end`,
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}`,
    `Node ${m.node}; server (${m.server === 'embedded' ? 'embedded, loopback, fsync off' : 'DATABASE_URL'}): ${m.postgres}`,
    `Peers: ${versions}; ${m.pgbench ?? 'pgbench not found'}; pgsteward commit ${m.pgstewardCommit ?? 'unknown'}`,
    'Client and server share the machine; client CPU is the benchmark process (or pgbench) as % of one core.',
  ]
}

export function renderConsole(bench: BenchResult): string {
  const sections = [
    `pgsteward benchmark\n${environmentLines(bench).join('\n')}`,
    ...bench.throughput.map((result) => throughputSection(result, bench, 'console')),
    ownershipLine(bench),
    endToEndSection(bench.endToEnd, bench, 'console'),
    fairnessSection(bench.fairness, 'console'),
    targetsSection(bench.targets, 'console'),
    ...(bench.notes.length > 0 ? [`Notes:\n${bench.notes.map((n) => `  * ${n}`).join('\n')}`] : []),
  ]
  return sections.join('\n\n') + '\n'
}

/** Markdown with `###` headings, to sit under a `##` section of the README or a `#` title. */
export function renderMarkdown(bench: BenchResult): string {
  const sections = [
    `Generated by \`npm run bench\`${bench.mode === 'quick' ? ' -- --quick (short runs: indicative only)' : ''} on ${bench.machine.date.slice(0, 10)} on ${bench.machine.hostname}.`,
    environmentLines(bench)
      .map((line) => `- ${line}`)
      .join('\n'),
    targetsSection(bench.targets, 'markdown'),
    ...bench.throughput.map((result) => throughputSection(result, bench, 'markdown')),
    `### Ownership overhead\n\n${ownershipLine(bench)}`,
    endToEndSection(bench.endToEnd, bench, 'markdown'),
    fairnessSection(bench.fairness, 'markdown'),
    ...(bench.notes.length > 0 ? [`### Notes\n\n${bench.notes.map((n) => `- ${n}`).join('\n')}`] : []),
  ]
  return sections.join('\n\n') + '\n'
}
