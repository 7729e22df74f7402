/**
 * The background sweep: removes the files of released blobs whose grace period is over, retries
 * clean-ups that failed (the database was unreachable when a failed write tried to remove its
 * files), runs the crash sweep every hour, and drops expired idempotency keys. Every removal is
 * rechecked under the lock its writers take, so several instances may sweep the same directory
 * and database. Failures are logged and retried at the next pass, never thrown at a request.
 */
import type { FastifyBaseLogger } from 'fastify'
import { sql } from 'pgsteward'
import { collectAssetFiles } from '../assets/asset-files.ts'
import type { AppContext } from '../context.ts'
import { IDEMPOTENCY_KEY_HOURS } from '../http/idempotency.ts'
import { collectBlobs, dueReleases } from '../projects/project-files.ts'
import { removeCrashLeftovers } from './crash-leftovers.ts'

const RELEASES_PER_PASS = 1_000
const CRASH_SWEEP_EVERY_MS = 60 * 60 * 1000

export interface SweepResult {
  releasedFilesRemoved: number
  retriedFilesRemoved: number
  expiredKeys: number
}

export class FileSweeper {
  readonly #ctx: Pick<AppContext, 'db' | 'projectFiles' | 'assetFiles' | 'config'>
  readonly #log: FastifyBaseLogger
  readonly #intervalMs: number
  /** Clean-ups that failed, to try again: blob names and asset file names. */
  readonly #retry = { blobs: new Set<string>(), assets: new Set<string>() }
  #timer: NodeJS.Timeout | undefined
  #running: Promise<unknown> = Promise.resolve()
  #lastCrashSweep = Date.now()
  #stopped = false

  constructor(ctx: Pick<AppContext, 'db' | 'projectFiles' | 'assetFiles' | 'config'>, log: FastifyBaseLogger, intervalMs: number) {
    this.#ctx = ctx
    this.#log = log
    this.#intervalMs = intervalMs
  }

  /** A clean-up that could not run now: the next pass tries again. */
  later(kind: 'blobs' | 'assets', names: Iterable<string>): void {
    for (const name of names) this.#retry[kind].add(name)
  }

  start(): void {
    if (this.#timer !== undefined || this.#stopped) return
    this.#timer = setInterval(() => void this.sweep().catch(() => undefined), this.#intervalMs)
    this.#timer.unref()
  }

  /** No further passes; resolves when the one running (if any) ended. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#running.catch(() => undefined)
  }

  /** One pass now (after the one running, if any). */
  sweep(): Promise<SweepResult> {
    const pass = this.#running.catch(() => undefined).then(() => this.#pass())
    this.#running = pass
    return pass
  }

  async #pass(): Promise<SweepResult> {
    const { db, projectFiles, assetFiles, config } = this.#ctx
    const result: SweepResult = { releasedFilesRemoved: 0, retriedFilesRemoved: 0, expiredKeys: 0 }
    try {
      const due = await dueReleases(db, config.replacedFilesGraceMs, RELEASES_PER_PASS)
      result.releasedFilesRemoved = (await collectBlobs(db, projectFiles, due, config.replacedFilesGraceMs)).length
      const blobs = [...this.#retry.blobs]
      this.#retry.blobs.clear()
      result.retriedFilesRemoved += (
        await collectBlobs(db, projectFiles, blobs, config.replacedFilesGraceMs).catch((err: unknown) => {
          this.later('blobs', blobs)
          throw err
        })
      ).length
      const assets = [...this.#retry.assets]
      this.#retry.assets.clear()
      result.retriedFilesRemoved += (
        await collectAssetFiles(db, assetFiles, assets).catch((err: unknown) => {
          this.later('assets', assets)
          throw err
        })
      ).length
      const expired = await db.query(sql`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => ${IDEMPOTENCY_KEY_HOURS})`)
      result.expiredKeys = expired.rowCount ?? 0
      if (Date.now() - this.#lastCrashSweep >= CRASH_SWEEP_EVERY_MS) {
        this.#lastCrashSweep = Date.now()
        const leftovers = await removeCrashLeftovers(this.#ctx)
        if (leftovers.orphanFiles + leftovers.temporaryFiles > 0) this.#log.warn(leftovers, 'removed files that no row names')
      }
    } catch (err) {
      this.#log.warn({ err }, 'file sweep failed; the next pass tries again')
      throw err
    }
    return result
  }
}
