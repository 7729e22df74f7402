// Knip inside `npm test`: unused files, exports and dependencies across every workspace.
// The library's entry points are its package.json `exports` mapped back to src/ (knip's own
// mapping needs an outDir in a tsconfig.json, and the library builds with tsconfig.build.json),
// so a new entry point needs no edit here.
import { entryPoints } from './packages/pgsteward/typedoc.config.js'

/** @type {import('knip').KnipConfig} */
const config = {
  // A module's constants and types may be exported for its readers even if only it uses them.
  ignoreExportsUsedInFile: true,
  workspaces: {
    'packages/pgsteward': {
      entry: [...entryPoints, 'test/**/*.test.ts', 'test/fixtures/*.ts', 'test/package/consumer/*.{ts,cts,mjs,cjs}'],
      project: ['src/**/*.ts', 'test/**/*.{ts,cts,mjs,cjs}'],
      // Run on the packed tarball by test/package/consumer.test.ts, by path: no import to follow.
      ignoreDependencies: ['publint', '@arethetypeswrong/cli'],
    },
    'packages/testkit': {
      entry: ['test/**/*.test.ts', 'test/fixtures/*.ts'],
    },
    'packages/embedded-postgres': {
      entry: ['test/**/*.test.ts'],
    },
    'apps/classroom': {
      entry: ['test/**/*.test.ts'],
      // PostgreSQL's client from the operating system (Debian's postgresql-client), not an npm package.
      ignoreBinaries: ['psql'],
    },
    lab: {
      entry: ['test/**/*.test.ts'],
    },
    examples: {
      entry: ['*.ts', 'test/**/*.test.ts'],
    },
    bench: {
      // The host processes and peer workers are compiled and started by path (build-host.ts, peer-threads.ts).
      entry: ['src/peer-host.ts', 'src/peer-worker.ts', 'src/workloads/queueing-run.ts', 'test/**/*.test.ts'],
    },
  },
}

export default config
