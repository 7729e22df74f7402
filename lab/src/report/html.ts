/**
 * A self-contained HTML report (no scripts, no network): per scenario, the two variants side by
 * side with their outcomes, and SVG charts of latency and pool gauges over time.
 */
import type { TimelinePoint } from '../recorder.ts'
import type { VariantReport } from '../scenario.ts'

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c)

function lineChart(title: string, series: { label: string; color: string; points: [number, number][] }[]): string {
  const width = 420
  const height = 140
  const all = series.flatMap((s) => s.points)
  if (all.length === 0) return `<p class="empty">${escape(title)}: no samples</p>`
  const maxX = Math.max(1, ...all.map((p) => p[0]))
  const maxY = Math.max(1, ...all.map((p) => p[1]))
  const x = (v: number): number => 30 + (v / maxX) * (width - 40)
  const y = (v: number): number => height - 20 - (v / maxY) * (height - 35)
  const paths = series
    .filter((s) => s.points.length > 0)
    .map(
      (s) =>
        `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')}"/>`,
    )
    .join('')
  const legend = series.map((s, i) => `<text x="${40 + i * 120}" y="12" fill="${s.color}" font-size="11">${escape(s.label)}</text>`).join('')
  return `<figure><figcaption>${escape(title)} (max ${maxY.toFixed(1)}, ${(maxX / 1000).toFixed(1)} s)</figcaption>
<svg width="${width}" height="${height}" role="img"><line x1="30" y1="${height - 20}" x2="${width - 10}" y2="${height - 20}" stroke="#999"/><line x1="30" y1="20" x2="30" y2="${height - 20}" stroke="#999"/>${paths}${legend}</svg></figure>`
}

const pick = (t: TimelinePoint[], f: (p: TimelinePoint) => number | undefined): [number, number][] =>
  t.flatMap((p) => {
    const v = f(p)
    return v === undefined ? [] : [[p.tMs, v] as [number, number]]
  })

function variantCard(r: VariantReport): string {
  if (r.skipped !== undefined) return `<div class="card skipped"><h3>${r.variant}: skipped</h3><p>${escape(r.skipped)}</p></div>`
  const ok = r.violations.length === 0
  const errors =
    Object.entries(r.errors)
      .map(([k, n]) => `<li>${n} × ${escape(k)}</li>`)
      .join('') || '<li>none</li>'
  return `<div class="card ${ok ? 'ok' : 'bad'}"><h3>${r.variant}: ${ok ? 'invariant held' : 'invariant VIOLATED'}</h3>
<p>${r.operations} operations, ${r.ok} ok, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.durationMs} ms; leaked ${r.leakedConnections}, dirty ${r.dirtyConnections}</p>
<details><summary>errors</summary><ul>${errors}</ul></details>
${r.violations.length ? `<ul class="violations">${r.violations.map((v) => `<li>${escape(v)}</li>`).join('')}</ul>` : ''}
${r.notes.length ? `<ul class="notes">${r.notes.map((n) => `<li>${escape(n)}</li>`).join('')}</ul>` : ''}
${lineChart('median latency per 100 ms (ms)', [{ label: 'p50', color: '#1f77b4', points: pick(r.timeline, (p) => (p.ops > 0 ? p.p50Ms : undefined)) }])}
${lineChart('pool gauges', [
  { label: 'in use', color: '#2ca02c', points: pick(r.timeline, (p) => p.inUse) },
  { label: 'waiting', color: '#d62728', points: pick(r.timeline, (p) => p.waiting) },
])}</div>`
}

export function renderHtml(reports: VariantReport[], meta: { date: string; machine: string; users: number; quick: boolean }): string {
  const byScenario = new Map<number, VariantReport[]>()
  for (const r of reports) byScenario.set(r.id, [...(byScenario.get(r.id) ?? []), r])
  const sections = [...byScenario.values()]
    .map((rs) => `<section><h2>${rs[0]?.id}. ${escape(rs[0]?.scenario ?? '')}</h2><div class="row">${rs.map(variantCard).join('')}</div></section>`)
    .join('\n')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pgsteward race lab</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}.row{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;flex:1;min-width:440px}.ok h3{color:#2a7}.bad h3{color:#c22}.skipped h3{color:#777}.violations{color:#c22}figure{margin:.5em 0}figcaption{font-size:12px;color:#555}</style></head>
<body><h1>pgsteward race lab</h1><p>${escape(meta.date)} on ${escape(meta.machine)}; ${meta.users} virtual users${meta.quick ? ' (quick run)' : ''}.
Each scenario runs the same job naively (plain pg / pg-pool) and with pgsteward, then reads the database, the files and pg_stat_activity.</p>
${sections}</body></html>`
}
