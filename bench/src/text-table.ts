/** Tables for the terminal and for Markdown, shared by every section of the report. */

export type Style = 'console' | 'markdown'

/** Right-align every column but the first, which holds names. */
export function table(headers: string[], rows: string[][], style: Style): string {
  if (style === 'markdown') {
    const line = (cells: string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`
    const rule = `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`
    return [line(headers), rule, ...rows.map(line)].join('\n')
  }
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(' | ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n')
}
