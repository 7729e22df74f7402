/**
 * Incidents 003/004: an operator terminates every backend, then the server restarts with an outage
 * of about 3 s, while requests flow. A naive pg.Pool hands its callers an error for every request
 * made while the server is down (thousands of ECONNREFUSED) and emits 'error' for each idle client
 * whose backend went away: without a listener, each one crashes the process.
 *
 * Measured for both variants, per fault cycle: errors surfaced to callers for work not yet started
 * (after the terminate, during the outage, after the restart), requests served between the
 * terminate and the restart, and the time from the server accepting connections again to the
 * first success, to the median user's first success, and to full throughput.
 *
 * Invariant: no error for work not yet started, and back at least as fast as naive (medians over
 * the cycles, with one reconnect backoff step of grace): measured against naive on the same
 * machine in the same run, never against a wall-clock bound.
 */
import { performance } from 'node:perf_hooks'
import { sql } from 'pgsteward'
import { countIdleClientErrors, naivePool, sleep, virtualUsers } from '../naive-pool.ts'
import { errorKind } from '../recorder.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { stewardDatabase } from '../steward.ts'

/**
 * How much later than naive pg.Pool's pgsteward's service may come back: one reconnect backoff
 * step. pg.Pool tries a new connection on every request, so it finds the server as soon as it is
 * up; a pool that backs off between attempts finds it at its next attempt. A short backoff keeps
 * that lag below this step; a backoff grown to a second during a 3 s outage does not.
 */
export const BACKOFF_STEP_MS = 100
/** A cycle whose service is not back this long after the restart counts as never back. */
const BACK_WITHIN_MS = 10_000
/** Full throughput: a 100 ms window serving this fraction of the pre-fault rate. */
const FULL_THROUGHPUT_FRACTION = 0.8
const WINDOW_MS = 100

export interface FaultWindow {
  from: number
  to: number
}

/** One request as its caller saw it; times in ms from the start of the variant's load. */
export interface RequestRecord {
  user: number
  start: number
  end: number
  ok: boolean
  kind?: string
}

export interface FaultCycle {
  /** Load before the faults of this cycle began. */
  loadFrom: number
  /** pg_terminate_backend issued .. every terminated backend gone. */
  terminate: FaultWindow
  /** Server stop issued .. server down. */
  shutdown: FaultWindow
  /** The server accepts connections again (its start-up reported ready). */
  acceptingAt: number
  /** End of this cycle's load. */
  until: number
}

export interface RestartOutcome {
  users: number
  requests: RequestRecord[]
  cycles: FaultCycle[]
  /** 'error' events the pool emitted for idle clients (naive only): each one, without a listener, an uncaught exception. */
  idleClientErrors?: number
}

export interface CycleFigures {
  /** Errors for requests started after the terminated backends were gone, before the server stopped. */
  errorsAfterTerminate: number
  /** Errors for requests started while the server was down. */
  errorsDuringOutage: number
  /** Errors for requests started after the server accepted connections again. */
  errorsAfterRestart: number
  /** Errors for requests started before this cycle's faults (after the previous cycle's restart). */
  errorsBeforeFaults: number
  /** The kinds of all those errors, for work not yet started. */
  notStartedKinds: Record<string, number>
  /** Errors for requests running when a fault began or started while it was injected: allowed. */
  inFlightErrors: number
  /** Successes between the terminate and the server stopping. */
  servedBetweenTerminateAndRestart: number
  /** The emptiest 100 ms window from the terminate to the stop, in successes: a stall shows here. */
  fewestPerWindowAfterTerminate: number | undefined
  /** ms from the server accepting connections again to the first success; undefined: none. */
  firstSuccessMs: number | undefined
  /** ms from then to the median user's first success; undefined: half the users never succeeded. */
  medianUserFirstSuccessMs: number | undefined
  /** ms from then to the end of the first 100 ms window at full throughput; undefined: not reached. */
  fullThroughputMs: number | undefined
  /** The pre-fault rate full throughput is measured against (successes per 100 ms). */
  baselinePerWindow: number
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

const overlaps = (r: RequestRecord, w: FaultWindow): boolean => r.start <= w.to && r.end >= w.from

/** Successes per 100 ms before the first fault, skipping the cold start: the rate full throughput means. */
function baselinePerWindow(outcome: RestartOutcome): number {
  const first = outcome.cycles[0]
  if (!first) return 0
  const ends = outcome.requests.filter((r) => r.ok).map((r) => r.end)
  const counts: number[] = []
  for (let t = first.loadFrom + 2 * WINDOW_MS; t + WINDOW_MS <= first.terminate.from; t += WINDOW_MS) {
    counts.push(ends.filter((e) => e >= t && e < t + WINDOW_MS).length)
  }
  return median(counts) ?? 0
}

/** The figures of each fault cycle, from the requests as their callers saw them. */
export function measureRestart(outcome: RestartOutcome): CycleFigures[] {
  const baseline = baselinePerWindow(outcome)
  return outcome.cycles.map((cycle) => {
    const mine = outcome.requests.filter((r) => r.start >= cycle.loadFrom && r.start < cycle.until)
    const figures: CycleFigures = {
      errorsAfterTerminate: 0,
      errorsDuringOutage: 0,
      errorsAfterRestart: 0,
      errorsBeforeFaults: 0,
      notStartedKinds: {},
      inFlightErrors: 0,
      servedBetweenTerminateAndRestart: 0,
      fewestPerWindowAfterTerminate: undefined,
      firstSuccessMs: undefined,
      medianUserFirstSuccessMs: undefined,
      fullThroughputMs: undefined,
      baselinePerWindow: baseline,
    }
    for (const r of mine) {
      if (r.ok) {
        if (r.end >= cycle.terminate.from && r.end < cycle.shutdown.from) figures.servedBetweenTerminateAndRestart++
        continue
      }
      if (overlaps(r, cycle.terminate) || overlaps(r, cycle.shutdown)) {
        figures.inFlightErrors++
        continue
      }
      if (r.start < cycle.terminate.from) figures.errorsBeforeFaults++
      else if (r.start < cycle.shutdown.from) figures.errorsAfterTerminate++
      else if (r.start < cycle.acceptingAt) figures.errorsDuringOutage++
      else figures.errorsAfterRestart++
      const kind = r.kind ?? 'error'
      figures.notStartedKinds[kind] = (figures.notStartedKinds[kind] ?? 0) + 1
    }
    const served = mine.filter((r) => r.ok).map((r) => r.end)
    for (let t = cycle.terminate.from; t + WINDOW_MS <= cycle.shutdown.from; t += 10) {
      const n = served.filter((e) => e >= t && e < t + WINDOW_MS).length
      figures.fewestPerWindowAfterTerminate = Math.min(figures.fewestPerWindowAfterTerminate ?? n, n)
    }
    // Back: successes once the server was down, measured from the moment it accepted connections again.
    const back = outcome.requests.filter((r) => r.ok && r.end > cycle.shutdown.to && r.end <= cycle.until).sort((a, b) => a.end - b.end)
    const first = back[0]
    if (first) figures.firstSuccessMs = first.end - cycle.acceptingAt
    const firstByUser = new Map<number, number>()
    for (const r of back) if (!firstByUser.has(r.user)) firstByUser.set(r.user, r.end - cycle.acceptingAt)
    if (firstByUser.size * 2 > outcome.users) {
      const delays = [...firstByUser.values()].sort((a, b) => a - b)
      figures.medianUserFirstSuccessMs = delays[Math.floor((outcome.users - 1) / 2)]
    }
    if (baseline > 0) {
      const ends = back.map((r) => r.end)
      let lo = 0
      let hi = 0
      for (let t = cycle.acceptingAt; t + WINDOW_MS <= cycle.until; t += 10) {
        while (lo < ends.length && (ends[lo] ?? 0) < t) lo++
        while (hi < ends.length && (ends[hi] ?? 0) < t + WINDOW_MS) hi++
        if (hi - lo >= FULL_THROUGHPUT_FRACTION * baseline) {
          figures.fullThroughputMs = t + WINDOW_MS - cycle.acceptingAt
          break
        }
      }
    }
    return figures
  })
}

const notStarted = (f: CycleFigures): number => f.errorsBeforeFaults + f.errorsAfterTerminate + f.errorsDuringOutage + f.errorsAfterRestart

const ms = (v: number | undefined): string => (v === undefined ? 'never' : `${Math.round(v)} ms`)

function kindsText(kinds: Record<string, number>): string {
  return Object.entries(kinds)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ')
}

/** Median over cycles; a cycle that never got there counts as infinitely late. */
function medianOver(figures: CycleFigures[], pick: (f: CycleFigures) => number | undefined): number | undefined {
  const m = median(figures.map((f) => pick(f) ?? Number.POSITIVE_INFINITY))
  return m === Number.POSITIVE_INFINITY ? undefined : m
}

/** Users loop over one statement, pausing as callers do between requests, while each cycle's faults are injected. */
async function underFaults(ctx: ScenarioContext, statement: () => Promise<unknown>): Promise<RestartOutcome> {
  const server = ctx.server
  if (!server) throw new Error('this scenario needs a private server')
  // Several cycles even when quick: when service comes back depends on where a reconnect backoff
  // stands at the restart, so one cycle is a draw; the comparison takes the median.
  // After the restart each cycle runs until service has been back for `settle` (time to reach
  // full throughput), however long coming back takes, up to BACK_WITHIN_MS.
  const phases = ctx.quick
    ? { warm: 500, afterTerminate: 600, outage: 3_000, settle: 600, cycles: 3 }
    : { warm: 1_500, afterTerminate: 2_000, outage: 3_000, settle: 2_000, cycles: 5 }
  const users = Math.min(ctx.users, 50)
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  const outcome: RestartOutcome = { users, requests: [], cycles: [] }
  let done = false
  /** The server's latest return, and the first success after it. */
  let acceptingSince = Number.POSITIVE_INFINITY
  let backAt: number | undefined
  const faults = (async () => {
    try {
      for (let c = 0; c < phases.cycles; c++) {
        const loadFrom = now()
        await sleep(phases.warm)
        const terminate = { from: now(), to: 0 }
        const killed = await ctx.admin<{ pid: number }>('SELECT pid, pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1', [
          ctx.applicationName,
        ])
        const pids = killed.map((k) => k.pid)
        // The fault is over when the server has no terminated backend left; until then a request may meet one mid-exit.
        while ((await ctx.admin<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [pids]))[0]?.n !== 0) await sleep(5)
        terminate.to = now()
        await sleep(phases.afterTerminate)
        const shutdown = { from: now(), to: 0 }
        await server.stop()
        shutdown.to = now()
        await sleep(phases.outage)
        acceptingSince = Number.POSITIVE_INFINITY
        backAt = undefined
        await server.start()
        const acceptingAt = now()
        acceptingSince = acceptingAt
        while (now() - acceptingAt < BACK_WITHIN_MS && (backAt === undefined || now() - backAt < phases.settle)) await sleep(10)
        outcome.cycles.push({ loadFrom, terminate, shutdown, acceptingAt, until: now() })
      }
    } finally {
      done = true
    }
  })()
  await virtualUsers(users, async (user) => {
    while (!done) {
      const start = now()
      const r = await ctx.recorder.op(statement)
      const end = now()
      outcome.requests.push({ user, start, end, ok: r.ok, ...(r.ok ? {} : { kind: errorKind(r.error) }) })
      if (r.ok && backAt === undefined && end >= acceptingSince) backAt = end
      // A caller's pace: the pool is not saturated, so it holds idle connections when the faults hit.
      await sleep(5 + Math.random() * 10)
    }
  })
  await faults
  return outcome
}

export default defineScenario<RestartOutcome>({
  id: 9,
  name: 'server restart and terminate mid-load',
  incident: '003_e2fa8a9a0014bbd7.txt',
  failure: 'every request during an outage fails at once, idle clients of a dead server crash the process, service slow to come back',
  needsPrivateServer: true,

  async naive(ctx) {
    const pool = naivePool(ctx)
    const idleClientErrors = countIdleClientErrors(pool)
    const outcome = await underFaults(ctx, () => pool.query('SELECT 1'))
    return { ...outcome, idleClientErrors: idleClientErrors() }
  },

  async pgsteward(ctx) {
    const db = stewardDatabase(ctx)
    return underFaults(ctx, () => db.query(sql`SELECT 1`))
  },

  async check(ctx, outcome) {
    const out: string[] = []
    const figures = measureRestart(outcome)
    for (const [i, f] of figures.entries()) {
      ctx.note(
        `cycle ${i + 1}: ${f.servedBetweenTerminateAndRestart} served between the terminate and the restart (emptiest 100 ms: ${f.fewestPerWindowAfterTerminate ?? '-'}); errors for work not yet started: ${f.errorsAfterTerminate} after the terminate, ${f.errorsDuringOutage} during the outage, ${f.errorsAfterRestart} after the restart${f.errorsBeforeFaults > 0 ? `, ${f.errorsBeforeFaults} before the faults` : ''}; ${f.inFlightErrors} for work in flight; after the server accepted connections again: first success ${ms(f.firstSuccessMs)}, median user ${ms(f.medianUserFirstSuccessMs)}, full throughput (${Math.round(FULL_THROUGHPUT_FRACTION * 100)}% of ${f.baselinePerWindow}/100 ms) ${ms(f.fullThroughputMs)}`,
      )
    }
    if (outcome.idleClientErrors !== undefined)
      ctx.note(`the pool emitted 'error' for ${outcome.idleClientErrors} idle client(s); with no listener each is an uncaught exception`)
    const errors = figures.reduce((a, f) => a + notStarted(f), 0)
    if (errors > 0) {
      const kinds: Record<string, number> = {}
      for (const f of figures) for (const [k, n] of Object.entries(f.notStartedKinds)) kinds[k] = (kinds[k] ?? 0) + n
      const sum = (pick: (f: CycleFigures) => number): number => figures.reduce((a, f) => a + pick(f), 0)
      out.push(
        `${errors} error(s) surfaced to callers for work not yet started: ${sum((f) => f.errorsAfterTerminate)} after the terminate, ${sum((f) => f.errorsDuringOutage)} during the outage, ${sum((f) => f.errorsAfterRestart)} after the restart (${kindsText(kinds)})`,
      )
    }
    if (figures.some((f) => f.firstSuccessMs === undefined)) out.push(`no request succeeded within ${BACK_WITHIN_MS / 1000} s after the server came back`)
    if (figures.some((f) => f.servedBetweenTerminateAndRestart === 0))
      out.push('nothing succeeded between pg_terminate_backend and the restart, though the server was up')
    return out
  },

  compare(naive, pgsteward, note) {
    const out: string[] = []
    const n = measureRestart(naive)
    const p = measureRestart(pgsteward)
    const cycles = `median of ${p.length} cycle(s)`
    for (const [label, pick] of [
      ['first success', (f: CycleFigures) => f.firstSuccessMs],
      ["median user's first success", (f: CycleFigures) => f.medianUserFirstSuccessMs],
    ] as const) {
      const mine = medianOver(p, pick)
      const theirs = medianOver(n, pick)
      note(
        `${label} after the server accepted connections again (${cycles}): pgsteward ${ms(mine)}, naive pg.Pool ${ms(theirs)}, allowed ${ms(theirs === undefined ? undefined : theirs + BACKOFF_STEP_MS)}`,
      )
      if (theirs !== undefined && (mine === undefined || mine > theirs + BACKOFF_STEP_MS)) {
        out.push(
          `pgsteward's ${label} after the restart came ${ms(mine)} after the server accepted connections again, later than naive pg.Pool's ${ms(theirs)} plus one backoff step (${BACKOFF_STEP_MS} ms)`,
        )
      }
    }
    note(
      `full throughput after the restart (${cycles}): pgsteward ${ms(medianOver(p, (f) => f.fullThroughputMs))}, naive pg.Pool ${ms(medianOver(n, (f) => f.fullThroughputMs))}`,
    )
    note(
      `served between the terminate and the restart (${cycles}): pgsteward ${medianOver(p, (f) => f.servedBetweenTerminateAndRestart)}, naive pg.Pool ${medianOver(n, (f) => f.servedBetweenTerminateAndRestart)}`,
    )
    return out
  },
})
