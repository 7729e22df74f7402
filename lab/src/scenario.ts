/**
 * The shape of a race-lab scenario: one incident's job done two ways (naive and pgsteward) on
 * fresh databases, each followed by an invariant check that reads the database, the files and
 * pg_stat_activity. The check reports what it found; nothing is decided in advance.
 */
import type pg from 'pg'
import type { ControllableServer } from './servers.ts'
import type { Recorder } from './recorder.ts'

export type VariantName = 'naive' | 'pgsteward'

export interface ScenarioContext {
  variant: VariantName
  /** Concurrent virtual users. */
  users: number
  quick: boolean
  /** A fresh database for this variant. */
  databaseUrl: string
  /** application_name every connection of this variant uses, to find them in pg_stat_activity. */
  applicationName: string
  /** A scratch directory for this variant's files. */
  dir: string
  recorder: Recorder
  /** Present for scenarios that stop, restart or kill the server. */
  server: ControllableServer | undefined
  /** Run SQL as superuser on this variant's database (setup and checks). */
  admin<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>
  /** Notes worth printing with the result (e.g. time to recovery). */
  note(text: string): void
  /**
   * Register cleanup (closing the variant's pool) to run after the server census, so a dirty or
   * leaked connection is seen before anything tidies it away.
   */
  onCleanup(work: () => Promise<unknown>): void
}

export interface Scenario<Outcome = unknown> {
  id: number
  name: string
  /** The post-mortem this reproduces, from ../shared/incidents/, or the issue that asks for it. */
  incident: string
  /** The failure mode in one line. */
  failure: string
  /** Stops, restarts or kills the server: runs on a private server of its own. */
  needsPrivateServer?: boolean
  /**
   * Why a variant cannot run on this machine or this build (a binary not on PATH, a pgsteward
   * option not built yet), or undefined when it can. Such a variant is reported as skipped with
   * the reason, never as passed.
   */
  unavailable?(variant: VariantName): Promise<string | undefined>
  setup?(ctx: ScenarioContext, client: pg.Client): Promise<void>
  naive(ctx: ScenarioContext): Promise<Outcome>
  pgsteward(ctx: ScenarioContext): Promise<Outcome>
  /** Invariant violations observed after a variant ran (empty: none). */
  check(ctx: ScenarioContext, outcome: Outcome): Promise<string[]>
  /**
   * After both variants ran: pgsteward's violations that only a comparison with the naive run on
   * the same machine can show (for example "back no later than naive"). Notes go to pgsteward's report.
   */
  compare?(naive: Outcome, pgsteward: Outcome, note: (text: string) => void): string[]
}

export interface VariantReport {
  scenario: string
  id: number
  variant: VariantName
  /** Why this variant did not run (then every figure below is empty). */
  skipped?: string
  operations: number
  ok: number
  errors: Record<string, number>
  violations: string[]
  /** Server sessions of the variant still active after it finished (leaked or running). */
  leakedConnections: number
  /** Server sessions left idle in transaction. */
  dirtyConnections: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  durationMs: number
  notes: string[]
  timeline: import('./recorder.ts').TimelinePoint[]
}

/** Helper for scenario files: keeps the Outcome type connected between variants and check. */
export function defineScenario<Outcome>(scenario: Scenario<Outcome>): Scenario<Outcome> {
  return scenario
}
