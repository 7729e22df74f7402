/**
 * Where the results go. A published run (full, every workload): bench/results/<date>-<host>/
 * (results.json, results.md, the charts) and bench/README.md. A trial (--quick, --only): the same
 * files in bench/results/trial/, README.md included, overwritten by the next trial and never
 * committed. The project's own README is never touched.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { sweepCharts } from './charts.ts'
import { BENCH_DIR } from './machine.ts'
import { renderReadme } from './readme.ts'
import { renderFullMarkdown } from './report.ts'
import type { BenchResult } from './results.ts'

export interface Published {
  dir: string
  readme: string
  files: string[]
}

/** Write a run's files; `into` is the directory of a run being presented again (`--render`), which is kept as it is. */
export async function publishResults(result: BenchResult, into?: string): Promise<Published> {
  const resultsDir = path.join(BENCH_DIR, 'results')
  const host = result.machine.hostname.replace(/[^A-Za-z0-9.-]/g, '_')
  const dir = into ?? (result.published ? path.join(resultsDir, `${result.machine.date.slice(0, 10)}-${host}`) : path.join(resultsDir, 'trial'))
  // A new trial replaces the previous one whole: no chart of an earlier trial may stay beside it.
  if (!result.published && into === undefined) await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const charts = sweepCharts(result)
  const files: string[] = []
  const write = async (file: string, text: string): Promise<void> => {
    await writeFile(file, text)
    files.push(file)
  }
  await write(path.join(dir, 'results.json'), `${JSON.stringify(result, null, 2)}\n`)
  for (const chart of charts) await write(path.join(dir, chart.name), chart.svg)
  await write(
    path.join(dir, 'results.md'),
    renderFullMarkdown(
      result,
      charts.map((chart) => chart.name),
    ),
  )
  const readme = result.published ? path.join(BENCH_DIR, 'README.md') : path.join(dir, 'README.md')
  const runDir = path.relative(path.dirname(readme), dir) || '.'
  await write(readme, renderReadme(result, { runDir, charts }))
  return { dir, readme, files }
}
