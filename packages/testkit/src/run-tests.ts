/**
 * `npm test`'s runner: one embedded PostgreSQL for the whole run (unless DATABASE_URL names a
 * server), node's test runner over the given files, and the server stopped at the end whatever
 * happened, including Ctrl-C.
 *
 * Options before the files: `--node=<major>` runs the tests on that Node release, fetched with
 * nodeBinary; any other `--flag` goes to node after the defaults, so it can change one
 * (`--test-timeout=...`) or add to them (`--experimental-test-coverage`).
 */
import { spawn } from 'node:child_process'
import { startEmbeddedServer, type EmbeddedServer } from '@pgsteward/embedded-postgres'
import { nodeBinary } from './node-binaries.ts'

const args = process.argv.slice(2)
const files = args.filter((arg) => !arg.startsWith('--'))
const nodeMajor = args.find((arg) => arg.startsWith('--node='))?.slice('--node='.length)
const nodeFlags = args.filter((arg) => arg.startsWith('--') && !arg.startsWith('--node='))
if (files.length === 0 || (nodeMajor !== undefined && !/^\d+$/.test(nodeMajor))) {
  console.error('usage: run-tests [--node=<major>] [--<node flag>...] <test files...>')
  process.exit(2)
}

let node = process.execPath
if (nodeMajor !== undefined) {
  const binary = await nodeBinary(Number(nodeMajor))
  node = binary.path
  console.log(`# tests run on Node ${binary.version} (${binary.origin === 'cache' ? 'from the cache' : 'downloaded'})`)
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
  node,
  // Two files at once, one a core: four were tried and were no faster on two cores (the lab and
  // the process tests are CPU-bound). The per-file bound is a safety net for a hung file, not a
  // speed check: it stays above the longest bound a test sets itself (the quick lab's 180 s),
  // which a loaded machine may need.
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...nodeFlags, ...files],
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
