/**
 * Why the embedded server could not start or stop, in one line a person can act on. The server's
 * own output, which the line summarises, is kept in `log` for whoever wants the details.
 */
export class EmbeddedServerError extends Error {
  /** The last lines PostgreSQL (or initdb) printed before it failed; empty when it never ran. */
  readonly log: readonly string[]

  constructor(message: string, log: readonly string[] = [], options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'EmbeddedServerError'
    this.log = log
  }
}

/**
 * The reason PostgreSQL gave, from its output: its last FATAL, PANIC or ERROR line (initdb's
 * `error:` line), else the last line it printed.
 */
export function reasonFromLog(lines: readonly string[]): string | undefined {
  // Log lines start with a timestamp and the process id: the reason is what follows.
  const meaningful = lines.map((line) => line.trim().replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, '')).filter((line) => line.length > 0)
  const at = meaningful.findLastIndex((line) => /\b(FATAL|PANIC|ERROR):|^initdb: error:|^postgres: /.test(line))
  if (at < 0) return meaningful.at(-1)
  const chosen = meaningful[at] as string
  // "configuration file ... contains errors" names no error: the lines just before it do.
  const details = /contains errors/.test(chosen)
    ? meaningful
        .slice(Math.max(0, at - 5), at)
        .filter((line) => /invalid|unrecognized|syntax error|could not|out of range/i.test(line))
        .map((line) => line.replace(/^LOG: +/, ''))
    : []
  return [...details, chosen].join('; ')
}
