/** Test support shared by every package: the embedded server, per-file databases and Node binaries of other majors. */
export { startEmbeddedServer, freePort, type EmbeddedServer, type EmbeddedServerOptions } from '@pgsteward/embedded-postgres'
export { adminUrl, createTestDatabase, urlFor, withClient } from './test-database.ts'
export { defaultCacheDir, newestOfMajor, nodeBinary, nodePackageName, type NodeBinary, type NodeBinaryOptions } from './node-binaries.ts'
