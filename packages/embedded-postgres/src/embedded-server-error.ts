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
  const meaningful = lines.map((line) => line.trim()).filter((line) => line.length > 0)
  const failures = meaningful.filter((line) => /\b(FATAL|PANIC|ERROR):|^initdb: error:|^postgres: /.test(line))
  const chosen = failures.at(-1) ?? meaningful.at(-1)
  // Log lines start with a timestamp and the process id: the reason is what follows.
  return chosen?.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, '')
}
