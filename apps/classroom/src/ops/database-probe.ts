/**
 * Does the database answer? Asked on a connection of its own, outside the pool: when every pooled
 * connection is busy serving requests, the pool cannot lend one to a health check in time, and
 * that is a busy service, not a dead database. Concurrent probes share one connection attempt.
 *
 * A server that refuses the connection because it is at its connection limit (SQLSTATE 53300,
 * "too many clients") answers too: it is busy, and taking this instance out would not help.
 * Refused, unreachable, starting up or shutting down (57P01-57P03), or silent: down.
 */
import pg from 'pg'

/** answers: `SELECT 1` ran; full: the server refused us for its connection limit; down: anything else. */
export type ProbeAnswer = 'answers' | 'full' | 'down'

const TOO_MANY_CONNECTIONS = '53300'

export class DatabaseProbe {
  readonly #url: string | undefined
  #inFlight: Promise<ProbeAnswer> | undefined

  constructor(url: string | undefined) {
    this.#url = url
  }

  /** Unknown (undefined) when the service was not given the database URL. */
  answers(timeoutMs: number): Promise<ProbeAnswer | undefined> {
    if (this.#url === undefined) return Promise.resolve(undefined)
    this.#inFlight ??= this.#ask(this.#url, timeoutMs).finally(() => (this.#inFlight = undefined))
    return this.#inFlight
  }

  async #ask(url: string, timeoutMs: number): Promise<ProbeAnswer> {
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: timeoutMs,
      statement_timeout: timeoutMs,
      application_name: 'classroom-health-probe',
    })
    client.on('error', () => undefined)
    try {
      await client.connect()
      const { rows } = await client.query<{ ok: number }>('SELECT 1 AS ok')
      return rows[0]?.ok === 1 ? 'answers' : 'down'
    } catch (err) {
      return (err as { code?: unknown }).code === TOO_MANY_CONNECTIONS ? 'full' : 'down'
    } finally {
      await client.end().catch(() => undefined)
    }
  }
}
