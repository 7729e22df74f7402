// The API reference (`npm run docs`, into api-docs/, which git ignores) and the documentation
// check inside `npm test` (test/package/api-docs.test.ts) read this one configuration. The entry points
// are the package's `exports`, so a new entry point is documented and checked without an edit here.
import { readFileSync } from 'node:fs'

/** @type {{ version: string, exports: Record<string, string | { default?: string }> }} */
const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))

/** The sources of the package's entry points: `./dist/pg.js` is built from `./src/pg.ts`. Knip reads them too. */
export const entryPoints = Object.values(manifest.exports).flatMap((target) =>
  typeof target === 'object' && target.default !== undefined ? [target.default.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts')] : [],
)

/** @type {Partial<import('typedoc').TypeDocOptions>} */
const options = {
  entryPoints,
  tsconfig: './tsconfig.build.json',
  out: './api-docs',
  readme: './README.md',
  includeVersion: true,
  // Source links point into the published package (its src/ ships for the source maps), so they
  // work from any checkout, with or without a git remote.
  disableGit: true,
  sourceLinkTemplate: `https://unpkg.com/pgsteward@${manifest.version}/src/{path}#L{line}`,
  sort: ['source-order'],
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  excludeExternals: true,
  // Every public symbol documented, every type the API mentions reachable, every link resolved.
  validation: { notExported: true, invalidLink: true, invalidPath: true, rewrittenLink: true, notDocumented: true, unusedMergeModuleWith: true },
  treatWarningsAsErrors: true,
  // Helper types the public signatures mention that users never name themselves (ProtocolSocket:
  // node-postgres's Connection as `client.connection`, which only cursors and streams reach into).
  intentionallyNotExported: ['ServerErrorArgs', 'ConnectCallback', 'ProtocolSocket'],
}

export default options
