/**
 * The pictures of a run: for each Node version, throughput and p99 latency of SELECT 1 against
 * concurrency (the sweep), one line per peer, pgbench's throughput beside as the server's limit.
 */
import type { BenchResult, RowResult, WorkloadResult } from './results.ts'
import { renderChart, type ChartSeries } from './svg-chart.ts'
import { SELECT_ONE_GROUP } from './workloads/select-one.ts'

/** One colour per peer in every chart, pgsteward's the strongest. */
const COLORS: Record<string, string> = {
  pgsteward: '#d62728',
  'pgsteward-app': '#ff7f0e',
  'pg-pool': '#1f77b4',
  'pg-pool-pipelined': '#17becf',
  'postgres.js': '#2ca02c',
  'postgres.js-no-pipelining': '#8c564b',
  slonik: '#9467bd',
}
const PGBENCH_COLOR = '#7f7f7f'

export interface ChartFile {
  /** File name inside the run's results directory. */
  name: string
  runtime: string
  svg: string
}

function compactRate(value: number): string {
  if (value >= 1_000_000) return `${Number((value / 1_000_000).toPrecision(3))}M`
  if (value >= 1_000) return `${Number((value / 1_000).toPrecision(3))}k`
  return String(Number(value.toPrecision(3)))
}

function compactMs(value: number): string {
  if (value >= 1_000) return `${Number((value / 1_000).toPrecision(3))} s`
  return `${Number(value.toPrecision(3))} ms`
}

/** The sweep's workloads, by concurrency. */
function sweep(bench: BenchResult): WorkloadResult[] {
  return bench.throughput.filter((result) => result.group === SELECT_ONE_GROUP).sort((a, b) => a.workers - b.workers)
}

export function sweepCharts(bench: BenchResult): ChartFile[] {
  const points = sweep(bench)
  if (points.length < 2) return []
  const runtimes = bench.machine.runtimes
  return runtimes.map((runtime) => {
    const rowsOf = (result: WorkloadResult): RowResult[] => result.rows.filter((row) => row.runtime === runtime.id && row.kind !== 'n/a')
    const labels = [...new Map(points.flatMap(rowsOf).map((row) => [row.label, row.peer ?? row.label])).entries()]
    const seriesOf = (value: (row: RowResult) => number | null): ChartSeries[] =>
      labels.map(([label, peer]) => ({
        name: label,
        color: COLORS[peer] ?? '#000',
        emphasis: peer === 'pgsteward',
        points: points.map((result) => {
          const row = rowsOf(result).find((candidate) => candidate.label === label)
          return { x: result.workers, y: row === undefined ? null : value(row) }
        }),
      }))
    const pgbench: ChartSeries = {
      name: 'pgbench -M prepared (server limit)',
      color: PGBENCH_COLOR,
      dashed: true,
      points: points.map((result) => ({ x: result.workers, y: result.rows.find((row) => row.kind === 'pgbench')?.opsPerSec?.median ?? null })),
    }
    const hasPgbench = pgbench.points.some((point) => point.y !== null)
    const s = bench.settings
    return {
      name: `select-one-${runtime.id}.svg`,
      runtime: runtime.id,
      svg: renderChart({
        title: `SELECT 1 against concurrency, pool of ${s.poolMax}: Node ${runtime.version}`,
        subtitle: `Medians of ${s.repetitions} interleaved repetitions of ${s.durationMs / 1_000} s; ${bench.machine.cpuModel}, ${bench.machine.cores} cores; ${bench.machine.date.slice(0, 10)}${bench.mode === 'quick' ? '; quick run: indicative only' : ''}`,
        panels: [
          {
            title: 'Throughput (higher is better)',
            xLabel: 'concurrent workers (log scale)',
            yLabel: 'operations per second',
            xLog: true,
            yLog: false,
            formatY: compactRate,
            series: [...seriesOf((row) => row.opsPerSec?.median ?? null), ...(hasPgbench ? [pgbench] : [])],
          },
          {
            title: 'p99 latency (lower is better)',
            xLabel: 'concurrent workers (log scale)',
            yLabel: 'p99 latency (log scale)',
            xLog: true,
            yLog: true,
            formatY: compactMs,
            series: seriesOf((row) => row.p99Ms),
          },
        ],
      }),
    }
  })
}
