/**
 * Line charts as standalone SVG text: panels side by side, one line per series, a shared legend.
 * Small on purpose (no browser, no dependency): log or linear axes with readable ticks, lines
 * broken where a value is missing, and every figure straight from the results.
 */

export interface ChartPoint {
  x: number
  /** null: not measured at this x (the line breaks). */
  y: number | null
}

export interface ChartSeries {
  name: string
  color: string
  points: ChartPoint[]
  dashed?: boolean
  /** Drawn thicker, on top: the subject of the chart. */
  emphasis?: boolean
}

export interface ChartPanel {
  title: string
  xLabel: string
  yLabel: string
  xLog: boolean
  yLog: boolean
  series: ChartSeries[]
  /** Tick labels of the y axis. */
  formatY: (value: number) => string
}

export interface Chart {
  title: string
  subtitle?: string
  panels: ChartPanel[]
}

const PANEL_WIDTH = 460
const PANEL_HEIGHT = 320
const MARGIN = { left: 64, right: 28, top: 34, bottom: 46 }
const HEADER = 52
const LEGEND_ROW = 20
/** Roughly the advance of an 11.5 px sans-serif character, to lay the legend out without measuring text. */
const LEGEND_CHAR_WIDTH = 6.6
const LEGEND_SWATCH = 40
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const round = (n: number): string => (Math.round(n * 10) / 10).toString()

/** Steps of 1, 2 or 5 times a power of ten, about `count` of them over [0, max]. */
export function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0]
  const raw = max / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw) ?? 10 * power
  const ticks: number[] = []
  // Multiples rather than a running sum, so 0.1 + 0.2 never shows up as a label.
  for (let i = 0; i <= count * 3; i++) {
    const value = Number((i * step).toPrecision(12))
    ticks.push(value)
    if (value >= max * (1 - 1e-9)) break
  }
  return ticks
}

/** 1, 2 and 5 times each power of ten inside [min, max]; only powers of ten when that is too many. */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > min)) return min > 0 ? [min] : []
  const within = (multipliers: number[]): number[] => {
    const ticks: number[] = []
    for (let power = Math.floor(Math.log10(min)); power <= Math.ceil(Math.log10(max)); power++) {
      for (const m of multipliers) {
        const value = m * 10 ** power
        if (value >= min * (1 - 1e-9) && value <= max * (1 + 1e-9)) ticks.push(value)
      }
    }
    return ticks
  }
  const dense = within([1, 2, 5])
  return dense.length <= 8 ? dense : within([1])
}

interface Scale {
  map(value: number): number
  ticks: number[]
}

function xScale(panel: ChartPanel, left: number, width: number): Scale {
  const xs = [...new Set(panel.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b)
  const min = xs[0] ?? 0
  const max = xs.at(-1) ?? 1
  const f = panel.xLog ? Math.log10 : (v: number) => v
  const lo = f(min)
  const span = f(max) - lo || 1
  // The measured points are the ticks: the sweep is what the reader compares across.
  return { map: (v) => left + ((f(v) - lo) / span) * width, ticks: xs }
}

function yScale(panel: ChartPanel, top: number, height: number): Scale {
  const ys = panel.series.flatMap((s) => s.points.map((p) => p.y)).filter((y): y is number => y !== null && Number.isFinite(y) && (!panel.yLog || y > 0))
  if (panel.yLog) {
    const min = ys.length === 0 ? 1 : Math.min(...ys) / 1.25
    const max = ys.length === 0 ? 10 : Math.max(...ys) * 1.25
    const lo = Math.log10(min)
    const span = Math.log10(max) - lo || 1
    return { map: (v) => top + height - ((Math.log10(v) - lo) / span) * height, ticks: logTicks(min, max) }
  }
  const ticks = linearTicks(ys.length === 0 ? 1 : Math.max(...ys) * 1.05)
  const max = ticks.at(-1) ?? 1
  return { map: (v) => top + height - (v / max) * height, ticks }
}

function formatX(value: number): string {
  return value.toLocaleString('en-US')
}

function renderPanel(panel: ChartPanel, originX: number, originY: number): string {
  const left = originX + MARGIN.left
  const top = originY + MARGIN.top
  const width = PANEL_WIDTH - MARGIN.left - MARGIN.right
  const height = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom
  const x = xScale(panel, left, width)
  const y = yScale(panel, top, height)
  const parts: string[] = []
  parts.push(`<text x="${round(left)}" y="${round(originY + 20)}" font-size="13" font-weight="600">${escapeXml(panel.title)}</text>`)
  parts.push(`<rect x="${round(left)}" y="${round(top)}" width="${round(width)}" height="${round(height)}" fill="none" stroke="#bbb"/>`)
  for (const tick of y.ticks) {
    const ty = y.map(tick)
    parts.push(`<line x1="${round(left)}" x2="${round(left + width)}" y1="${round(ty)}" y2="${round(ty)}" stroke="#eee"/>`)
    parts.push(`<text x="${round(left - 6)}" y="${round(ty + 4)}" font-size="11" text-anchor="end" fill="#444">${escapeXml(panel.formatY(tick))}</text>`)
  }
  for (const tick of x.ticks) {
    const tx = x.map(tick)
    parts.push(`<line x1="${round(tx)}" x2="${round(tx)}" y1="${round(top)}" y2="${round(top + height)}" stroke="#f2f2f2"/>`)
    parts.push(`<text x="${round(tx)}" y="${round(top + height + 16)}" font-size="11" text-anchor="middle" fill="#444">${escapeXml(formatX(tick))}</text>`)
  }
  parts.push(`<text x="${round(left + width / 2)}" y="${round(top + height + 36)}" font-size="12" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`)
  parts.push(
    `<text transform="translate(${round(originX + 14)} ${round(top + height / 2)}) rotate(-90)" font-size="12" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`,
  )
  // Emphasised series last, so they are drawn on top.
  const ordered = [...panel.series].sort((a, b) => Number(a.emphasis === true) - Number(b.emphasis === true))
  for (const series of ordered) {
    const usable = (p: ChartPoint): p is { x: number; y: number } => p.y !== null && Number.isFinite(p.y) && (!panel.yLog || p.y > 0)
    const segments: { x: number; y: number }[][] = [[]]
    for (const point of [...series.points].sort((a, b) => a.x - b.x)) {
      if (usable(point)) segments.at(-1)?.push(point)
      else if ((segments.at(-1)?.length ?? 0) > 0) segments.push([])
    }
    const stroke = `stroke="${series.color}" stroke-width="${series.emphasis === true ? 3 : 1.6}"${series.dashed === true ? ' stroke-dasharray="5 4"' : ''}`
    for (const segment of segments) {
      if (segment.length > 1) {
        const d = segment.map((p, i) => `${i === 0 ? 'M' : 'L'}${round(x.map(p.x))} ${round(y.map(p.y))}`).join(' ')
        parts.push(`<path d="${d}" fill="none" ${stroke} stroke-linejoin="round"/>`)
      }
      for (const p of segment) {
        parts.push(
          `<circle cx="${round(x.map(p.x))}" cy="${round(y.map(p.y))}" r="${series.emphasis === true ? 3.5 : 2.5}" fill="${series.color}"><title>${escapeXml(`${series.name}: ${formatX(p.x)} → ${panel.formatY(p.y)}`)}</title></circle>`,
        )
      }
    }
  }
  return parts.join('\n')
}

export function renderChart(chart: Chart): string {
  const legendSeries = new Map<string, ChartSeries>()
  for (const panel of chart.panels) for (const series of panel.series) if (!legendSeries.has(series.name)) legendSeries.set(series.name, series)
  const width = Math.max(1, chart.panels.length) * PANEL_WIDTH
  const longest = Math.max(0, ...[...legendSeries.keys()].map((name) => name.length))
  const itemWidth = Math.ceil(longest * LEGEND_CHAR_WIDTH + LEGEND_SWATCH)
  const perRow = Math.max(1, Math.floor((width - 16) / itemWidth))
  const legendRows = Math.ceil(legendSeries.size / perRow)
  const height = HEADER + PANEL_HEIGHT + 12 + legendRows * LEGEND_ROW + 8
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`)
  parts.push(`<title>${escapeXml(chart.title)}</title>`)
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`)
  parts.push(`<text x="16" y="24" font-size="16" font-weight="600">${escapeXml(chart.title)}</text>`)
  if (chart.subtitle !== undefined) parts.push(`<text x="16" y="42" font-size="11.5" fill="#555">${escapeXml(chart.subtitle)}</text>`)
  chart.panels.forEach((panel, i) => parts.push(renderPanel(panel, i * PANEL_WIDTH, HEADER)))
  const legendTop = HEADER + PANEL_HEIGHT + 12
  ;[...legendSeries.values()].forEach((series, i) => {
    const lx = 16 + (i % perRow) * itemWidth
    const ly = legendTop + Math.floor(i / perRow) * LEGEND_ROW
    const dash = series.dashed === true ? ' stroke-dasharray="5 4"' : ''
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly + 6}" y2="${ly + 6}" stroke="${series.color}" stroke-width="${series.emphasis === true ? 3 : 2}"${dash}/>`,
    )
    parts.push(`<text x="${lx + 28}" y="${ly + 10}" font-size="11.5">${escapeXml(series.name)}</text>`)
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
