/**
 * Does the database answer? Asked on a connection of its own, outside the pool: when every pooled
 * connection is busy serving requests, the pool cannot lend one to a health check in time, and
 * that is a busy service, not a dead database. Concurrent probes share one connection attempt.
 */
import pg from 'pg'

export class DatabaseProbe {
  readonly #url: string | undefined
  #inFlight: Promise<boolean> | undefined

  constructor(url: string | undefined) {
    this.#url = url
  }

  /** Unknown (undefined) when the service was not given the database URL. */
  answers(timeoutMs: number): Promise<boolean | undefined> {
    if (this.#url === undefined) return Promise.resolve(undefined)
    this.#inFlight ??= this.#ask(this.#url, timeoutMs).finally(() => (this.#inFlight = undefined))
    return this.#inFlight
  }

  async #ask(url: string, timeoutMs: number): Promise<boolean> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs, application_name: 'classroom-health-probe' })
    client.on('error', () => undefined)
    try {
      await client.connect()
      const { rows } = await client.query<{ ok: number }>('SELECT 1 AS ok')
      return rows[0]?.ok === 1
    } catch {
      return false
    } finally {
      await client.end().catch(() => undefined)
    }
  }
}
