/** Files on disk against the rows that name them: orphans (file, no row) and missing (row, no file). */
import { readdir } from 'node:fs/promises'

export async function filesAgainstRows(dir: string, referenced: Iterable<string>): Promise<string[]> {
  const onDisk = new Set((await readdir(dir).catch(() => [] as string[])).filter((f) => !f.endsWith('.tmp')))
  const named = new Set(referenced)
  const orphans = [...onDisk].filter((f) => !named.has(f)).length
  const missing = [...named].filter((f) => !onDisk.has(f)).length
  const out: string[] = []
  if (orphans > 0) out.push(`${orphans} file(s) on disk that no row references`)
  if (missing > 0) out.push(`${missing} row(s) naming a file that is not on disk`)
  return out
}
