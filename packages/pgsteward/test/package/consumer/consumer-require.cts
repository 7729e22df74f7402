/**
 * A CommonJS TypeScript module requiring the package (TypeScript 5.8+ under module NodeNext types
 * Node's require of ES modules). Checked by consumer.test.ts with `tsc --noEmit`; never run.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS form is the thing under test
import pgsteward = require('pgsteward')

const db: pgsteward.Database = pgsteward.createDatabase({ connectionString: 'postgres://app@localhost/app' })
const query: pgsteward.SqlFragment = pgsteward.sql`SELECT ${1}::int AS one`
export = { db, query }
