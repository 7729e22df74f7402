/**
 * DATA_DIR as `npm start` resolves it. `npm run <script> -w classroom` runs in apps/classroom, but
 * npm keeps the directory it was started from in INIT_CWD, which is where `npm start` ran.
 */
import path from 'node:path'

export function dataDirOf(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.INIT_CWD ?? process.cwd(), env.DATA_DIR ?? './.data')
}
