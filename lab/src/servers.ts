/**
 * The PostgreSQL servers the lab runs against: the shared one (DATABASE_URL or an embedded one)
 * and, for scenarios that stop or restart the server, a private embedded one. Loopback only.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startEmbeddedServer, type EmbeddedServer } from '@pgsteward/embedded-postgres'

export interface ControllableServer {
  adminUrl: string
  stop(): Promise<void>
  start(): Promise<void>
}

export function urlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

export async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgsteward-lab-inspector' })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

export async function createDatabase(adminUrl: string, label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `lab_${label.replace(/[^a-z0-9_]/g, '_').slice(0, 40)}_${randomBytes(3).toString('hex')}`
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`))
  return {
    url: urlFor(adminUrl, name),
    drop: () => withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  }
}

export async function startPrivateServer(): Promise<ControllableServer & { dispose(): Promise<void> }> {
  const server: EmbeddedServer = await startEmbeddedServer()
  return {
    adminUrl: server.url,
    stop: () => server.stop(),
    start: () => server.start(),
    dispose: () => server.stop({ removeData: true }),
  }
}
