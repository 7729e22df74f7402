/** What every route module receives: configuration, the database and the file stores. */
import type { Database } from 'pgsteward'
import type { Config } from './config.ts'
import type { BlobStore } from './files/blob-store.ts'

export interface AppContext {
  config: Config
  db: Database
  /** Project file contents, named by sha256. */
  projectFiles: BlobStore
  /** Uploaded assets, named by md5 and type. */
  assetFiles: BlobStore
  /** Failure injection for tests and the race lab: runs inside write transactions, before commit. */
  faults: { beforeCommit: (() => void | Promise<void>) | undefined }
}
