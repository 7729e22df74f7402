/**
 * `npm test`'s runner: one embedded PostgreSQL for the whole run (unless DATABASE_URL names a
 * server), node's test runner over the given files, and the server stopped at the end whatever
 * happened, including Ctrl-C.
 */
import { spawn } from 'node:child_process'
import { startEmbeddedServer, type EmbeddedServer } from '@pgsteward/embedded-postgres'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: run-tests <test files...>')
  process.exit(2)
}

let server: EmbeddedServer | undefined
let adminUrl = process.env.DATABASE_URL
if (adminUrl) {
  console.log(`# tests use DATABASE_URL (${new URL(adminUrl).host})`)
} else {
  server = await startEmbeddedServer()
  adminUrl = server.url
  console.log(`# tests use an embedded PostgreSQL on 127.0.0.1:${server.port}`)
}

const child = spawn(
  process.execPath,
  // The per-file bound is a safety net for a hung file, not a speed check: it stays above the
  // longest bound a test sets itself (the quick lab's 180 s), which a loaded machine may need.
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { stdio: 'inherit', env: { ...process.env, PGSTEWARD_TEST_ADMIN_URL: adminUrl } },
)
const forward = (signal: NodeJS.Signals): void => {
  child.kill(signal)
}
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))))
await server?.stop({ removeData: true })
process.exit(code)
