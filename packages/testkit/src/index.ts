/**
 * Test support shared by every package: the embedded server and per-file databases, Node
 * binaries of other majors, and the real components that tests put between the library and the
 * server (a fault-injecting TCP proxy, PgBouncer, a streaming standby). Everything started here
 * is stopped by a node:test `after` hook unless told otherwise, and nothing here keeps the test
 * process alive.
 */
export { startEmbeddedServer, freePort, type EmbeddedServer, type EmbeddedServerOptions } from '@pgsteward/embedded-postgres'
export { adminUrl, createTestDatabase, urlFor, withClient } from './test-database.ts'
export { defaultCacheDir, newestOfMajor, nodeBinary, nodePackageName, type NodeBinary, type NodeBinaryOptions } from './node-binaries.ts'
export { waitFor, type WaitForOptions } from './wait-for.ts'
export { startFaultProxy, type FaultProxy, type FaultProxyOptions } from './fault-proxy.ts'
export {
  findPgBouncer,
  pgbouncerOrSkip,
  startPgBouncer,
  PGBOUNCER_MISSING,
  type PgBouncer,
  type PgBouncerOptions,
  type PgBouncerPoolMode,
} from './pgbouncer.ts'
export { startReplicatedPair, type ReplicaNode, type ReplicatedPair, type ReplicatedPairOptions } from './replication.ts'
