/** What every route module receives: configuration, the database, the file stores and the services around them. */
import type { Database } from 'pgsteward'
import type { Authenticator } from './auth/authenticate.ts'
import type { Config } from './config.ts'
import type { BlobStore } from './files/blob-store.ts'
import type { FileSweeper } from './files/file-sweeper.ts'
import type { ShutdownGate } from './http/shutdown-gate.ts'

export interface AppContext {
  config: Config
  db: Database
  /** Project file contents, named by sha256. */
  projectFiles: BlobStore
  /** Uploaded assets, named by md5 and type. */
  assetFiles: BlobStore
  auth: Authenticator
  /** Removes released and left-over files in the background. */
  sweeper: FileSweeper
  shutdown: ShutdownGate
  /** Failure injection for tests and the race lab: runs inside write transactions, before commit. */
  faults: { beforeCommit: (() => void | Promise<void>) | undefined }
}
