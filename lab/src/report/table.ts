/** The terminal table: one line per scenario and variant. */
import type { VariantReport } from '../scenario.ts'

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1])
  if (entries.length === 0) return '-'
  const shown = entries.slice(0, 2).map(([k, n]) => `${n} ${k}`)
  return entries.length > 2 ? `${shown.join(', ')}, +${entries.length - 2} kinds` : shown.join(', ')
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text.slice(0, width - 1)}…` : text.padEnd(width)
}

export function renderTable(reports: VariantReport[]): string {
  const header = ['#', 'scenario', 'variant', 'ops', 'ok', 'errors', 'violations', 'leaked', 'dirty', 'p50 ms', 'p99 ms']
  const widths = [3, 30, 10, 7, 7, 34, 11, 7, 6, 9, 9]
  const lines = [header.map((h, i) => pad(h, widths[i] ?? 8)).join(' ')]
  lines.push(widths.map((w) => '-'.repeat(w)).join(' '))
  for (const r of reports) {
    const cells = [
      String(r.id),
      r.scenario,
      r.variant,
      String(r.operations),
      String(r.ok),
      errorsText(r.errors),
      r.skipped !== undefined ? 'skipped' : r.violations.length === 0 ? 'none' : `${r.violations.length} VIOLATED`,
      String(r.leakedConnections),
      String(r.dirtyConnections),
      String(r.p50Ms),
      String(r.p99Ms),
    ]
    lines.push(cells.map((c, i) => pad(c, widths[i] ?? 8)).join(' '))
  }
  const details = reports
    .filter((r) => r.violations.length > 0 || r.notes.length > 0 || r.skipped !== undefined)
    .map((r) =>
      [
        `${r.id} ${r.scenario} [${r.variant}]`,
        ...(r.skipped !== undefined ? [`  skipped: ${r.skipped}`] : []),
        ...r.violations.map((v) => `  violation: ${v}`),
        ...r.notes.map((n) => `  note: ${n}`),
      ].join('\n'),
    )
  return [...lines, '', ...details].join('\n')
}
