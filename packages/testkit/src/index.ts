/** Test support shared by every package: the embedded server and per-file databases. */
export { startEmbeddedServer, freePort, type EmbeddedServer, type EmbeddedServerOptions } from '@pgsteward/embedded-postgres'
export { adminUrl, createTestDatabase, urlFor, withClient } from './test-database.ts'
