/**
 * `npm run psql -w classroom`: psql on the embedded database of the running service (or on
 * DATABASE_URL when set). The port is the running server's (DATA_DIR/postgres/postmaster.pid),
 * the password the one it was given (pgsteward.json beside it).
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { dataDirOf } from './data-dir.ts'

function fail(message: string): never {
  console.error(message)
  process.exit(1)
}

/** Connection settings for psql, the password in the environment rather than on its command line. */
async function embeddedConnection(): Promise<{ args: string[]; password: string }> {
  const clusterDir = path.join(dataDirOf(), 'postgres')
  const lock = await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8').catch(() => undefined)
  if (lock === undefined) fail(`No embedded PostgreSQL is running in ${clusterDir}: start the service first (npm start).`)
  const port = lock.split('\n')[3]?.trim()
  const state = JSON.parse(await readFile(path.join(clusterDir, 'pgsteward.json'), 'utf8')) as { password: string }
  return { args: ['--host=127.0.0.1', `--port=${port}`, '--username=postgres', '--dbname=classroom'], password: state.password }
}

const connection = process.env.DATABASE_URL !== undefined ? { args: [process.env.DATABASE_URL], password: undefined } : await embeddedConnection()
const env = connection.password === undefined ? process.env : { ...process.env, PGPASSWORD: connection.password }
const child = spawn('psql', [...connection.args, ...process.argv.slice(2)], { stdio: 'inherit', env })
child.on('error', (err: NodeJS.ErrnoException) =>
  fail(err.code === 'ENOENT' ? 'psql is not installed: apt-get install postgresql-client (or use the URL printed at start with any client).' : err.message),
)
child.on('exit', (code) => process.exit(code ?? 1))
