/**
 * Where the results go: the whole result object as JSON under bench/results/, the markdown
 * summary as bench/results/latest.md, and the README's bench section (full runs only, and only
 * between its markers, when both are there).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { BENCH_DIR, REPO_ROOT } from './machine.ts'
import { renderMarkdown } from './report.ts'
import type { BenchResult } from './results.ts'

const START_MARKER = '<!-- bench:start -->'
const END_MARKER = '<!-- bench:end -->'

export interface Published {
  json: string
  markdown: string
  /** Why the README was left alone, or null when it was updated. */
  readmeSkipped: string | null
}

export async function publishResults(result: BenchResult): Promise<Published> {
  const dir = path.join(BENCH_DIR, 'results')
  await mkdir(dir, { recursive: true })
  const host = result.machine.hostname.replace(/[^A-Za-z0-9.-]/g, '_')
  // A quick run must not overwrite the day's full figures.
  const suffix = result.mode === 'quick' ? '-quick' : ''
  const json = path.join(dir, `${result.machine.date.slice(0, 10)}-${host}${suffix}.json`)
  await writeFile(json, `${JSON.stringify(result, null, 2)}\n`)
  const body = renderMarkdown(result)
  const markdown = path.join(dir, 'latest.md')
  await writeFile(markdown, `# pgsteward benchmark results\n\n${body}`)
  const readmeSkipped = result.mode === 'quick' ? 'quick runs do not replace the README figures' : await updateReadme(path.join(REPO_ROOT, 'README.md'), body)
  return { json, markdown, readmeSkipped }
}

/** Replace only what lies between the markers; returns why nothing was done, or null. */
async function updateReadme(readmePath: string, body: string): Promise<string | null> {
  const readme = await readFile(readmePath, 'utf8').catch(() => undefined)
  if (readme === undefined) return `no README at ${readmePath}`
  const start = readme.indexOf(START_MARKER)
  const end = readme.indexOf(END_MARKER, start + START_MARKER.length)
  if (start < 0 || end < 0) return `README has no ${START_MARKER} ... ${END_MARKER} markers`
  const updated = `${readme.slice(0, start + START_MARKER.length)}\n${body}${readme.slice(end)}`
  await writeFile(readmePath, updated)
  return null
}
