/**
 * Issue 16, several servers: a primary with a streaming standby; mid-load the primary fails (fast
 * shutdown) and the standby is promoted. node-postgres knows one host: pg.Pool keeps opening
 * connections to the old server, so every request after the failover fails, and its idle clients
 * of the old server emit 'error' (without a listener, a crash). pgsteward with a multi-host
 * connection string and `target_session_attrs=read-write` must give work not yet started no
 * error: it waits, finds the new primary and carries on; every acknowledged write is on it.
 */
import { performance } from 'node:perf_hooks'
import { sql } from 'pgsteward'
import { countIdleClientErrors, naivePool, sleep, virtualUsers } from '../naive-pool.ts'
import { errorKind } from '../recorder.ts'
import { startReplicatedPair, type ReplicatedPair } from '../replicated-pair.ts'
import { defineScenario, type ScenarioContext } from '../scenario.ts'
import { withAdmin } from '../servers.ts'
import { stewardDatabase, stewardRefuses } from '../steward.ts'

/** One write as its caller saw it; times in ms from the start of the load. */
export interface WriteRecord {
  user: number
  seq: number
  start: number
  end: number
  ok: boolean
  kind?: string
}

export interface FailoverOutcome {
  requests: WriteRecord[]
  /** Primary stop issued; primary down; standby promoted (accepts writes); end of the load. */
  failover: { from: number; primaryDown: number; promoted: number; until: number }
  /** Every (user, seq) the new primary holds. */
  rowsOnNewPrimary(): Promise<{ user_id: number; seq: number }[]>
  /** 'error' events the pool emitted for idle clients (naive only). */
  idleClientErrors?: number
}

/** libpq's multi-host form for the pair, asking for the server that accepts writes. */
function multiHostUrl(pair: Pick<ReplicatedPair, 'primaryUrl' | 'primaryPort' | 'standbyPort'>): string {
  const url = new URL(pair.primaryUrl)
  return `postgres://${url.username}:${url.password}@127.0.0.1:${pair.primaryPort},127.0.0.1:${pair.standbyPort}${url.pathname}?target_session_attrs=read-write`
}

async function pairWithSchema(ctx: ScenarioContext): Promise<ReplicatedPair> {
  const pair = await startReplicatedPair()
  ctx.onCleanup(() => pair.dispose())
  const admin = (url: string, text: string): Promise<unknown[]> => withAdmin(url, async (c) => (await c.query<Record<string, unknown>>(text)).rows)
  await admin(pair.primaryUrl, 'CREATE TABLE writes (user_id int NOT NULL, seq int NOT NULL, PRIMARY KEY (user_id, seq))')
  // The standby must have the table before the failover, or the promoted server would lack it.
  for (let i = 0; (await admin(pair.standbyUrl, "SELECT 1 FROM pg_class WHERE relname = 'writes'")).length === 0; i++) {
    if (i > 200) throw new Error('the standby did not replay the schema within 10 s')
    await sleep(50)
  }
  return pair
}

/** Users write in a loop, pacing as callers do, while the primary fails and the standby is promoted. */
async function underFailover(
  ctx: ScenarioContext,
  pair: ReplicatedPair,
  write: (user: number, seq: number) => Promise<unknown>,
): Promise<Omit<FailoverOutcome, 'rowsOnNewPrimary'>> {
  const phases = ctx.quick ? { warm: 800, after: 2_000 } : { warm: 2_000, after: 5_000 }
  const t0 = performance.now()
  const now = (): number => performance.now() - t0
  const requests: WriteRecord[] = []
  const failover = { from: 0, primaryDown: 0, promoted: 0, until: 0 }
  let done = false
  const faults = (async () => {
    try {
      await sleep(phases.warm)
      failover.from = now()
      await pair.stopPrimary()
      failover.primaryDown = now()
      await pair.promoteStandby()
      failover.promoted = now()
      await sleep(phases.after)
      failover.until = now()
    } finally {
      done = true
    }
  })()
  // Fewer users than scenario 9: writes are slower, and the pool must hold idle clients when the primary goes.
  await virtualUsers(Math.min(ctx.users, 20), async (user) => {
    for (let seq = 0; !done; seq++) {
      const start = now()
      const r = await ctx.recorder.op(() => write(user, seq))
      requests.push({ user, seq, start, end: now(), ok: r.ok, ...(r.ok ? {} : { kind: errorKind(r.error) }) })
      await sleep(5 + Math.random() * 10)
    }
  })
  await faults
  return { requests, failover }
}

export interface FailoverFigures {
  /** Errors for writes started after the primary was down, before the promotion completed. */
  errorsDuringPromotion: number
  /** Errors for writes started after the promotion. */
  errorsAfterPromotion: number
  /** Errors for writes started before the failover that were not running when it began. */
  errorsBefore: number
  notStartedKinds: Record<string, number>
  /** Errors for writes running when the primary went down: allowed. */
  inFlightErrors: number
  servedAfterPromotion: number
  /** ms from the promotion to the first acknowledged write; undefined: none. */
  firstWriteAfterPromotionMs: number | undefined
}

export function measureFailover(o: Pick<FailoverOutcome, 'requests' | 'failover'>): FailoverFigures {
  const { failover } = o
  const f: FailoverFigures = {
    errorsDuringPromotion: 0,
    errorsAfterPromotion: 0,
    errorsBefore: 0,
    notStartedKinds: {},
    inFlightErrors: 0,
    servedAfterPromotion: 0,
    firstWriteAfterPromotionMs: undefined,
  }
  for (const r of o.requests) {
    if (r.ok) {
      if (r.end >= failover.promoted) {
        f.servedAfterPromotion++
        const delay = r.end - failover.promoted
        if (f.firstWriteAfterPromotionMs === undefined || delay < f.firstWriteAfterPromotionMs) f.firstWriteAfterPromotionMs = delay
      }
      continue
    }
    if (r.start <= failover.primaryDown && r.end >= failover.from) {
      f.inFlightErrors++
      continue
    }
    if (r.start < failover.from) f.errorsBefore++
    else if (r.start < failover.promoted) f.errorsDuringPromotion++
    else f.errorsAfterPromotion++
    const kind = r.kind ?? 'error'
    f.notStartedKinds[kind] = (f.notStartedKinds[kind] ?? 0) + 1
  }
  return f
}

const multiHostProbe = 'postgres://lab:lab@127.0.0.1:1,127.0.0.1:2/lab?target_session_attrs=read-write'

export default defineScenario<FailoverOutcome>({
  id: 13,
  name: 'failover under load',
  incident: 'issue 16 (several servers): after a failover the pool must stop lending connections to the old server',
  failure: 'the pool keeps connecting to the old primary: every request after the failover fails, idle clients crash the process',

  async unavailable(variant) {
    if (variant === 'naive') return undefined
    const refused = await stewardRefuses({ connectionString: multiHostProbe })
    return refused === undefined
      ? undefined
      : `pgsteward does not take a multi-host connection string yet (issue 16): createDatabase({ connectionString: '${multiHostProbe}' }) says "${refused}"`
  },

  async naive(ctx) {
    const pair = await pairWithSchema(ctx)
    // The application's configuration names the primary: node-postgres takes one host.
    const pool = naivePool(ctx, { connectionString: pair.primaryUrl })
    const idleClientErrors = countIdleClientErrors(pool)
    const outcome = await underFailover(ctx, pair, (user, seq) => pool.query('INSERT INTO writes (user_id, seq) VALUES ($1, $2)', [user, seq]))
    return { ...outcome, idleClientErrors: idleClientErrors(), rowsOnNewPrimary: () => rowsOn(pair.standbyUrl) }
  },

  async pgsteward(ctx) {
    const pair = await pairWithSchema(ctx)
    const db = stewardDatabase(ctx, {}, multiHostUrl(pair))
    const outcome = await underFailover(ctx, pair, (user, seq) => db.query(sql`INSERT INTO writes (user_id, seq) VALUES (${user}, ${seq})`))
    return { ...outcome, rowsOnNewPrimary: () => rowsOn(pair.standbyUrl) }
  },

  async check(ctx, outcome) {
    const out: string[] = []
    const f = measureFailover(outcome)
    ctx.note(
      `errors for work not yet started: ${f.errorsDuringPromotion} while the standby was promoted, ${f.errorsAfterPromotion} after; ${f.inFlightErrors} for writes in flight; ${f.servedAfterPromotion} writes acknowledged after the promotion, the first ${f.firstWriteAfterPromotionMs === undefined ? 'never' : `${Math.round(f.firstWriteAfterPromotionMs)} ms`} after it`,
    )
    if (outcome.idleClientErrors !== undefined)
      ctx.note(`the pool emitted 'error' for ${outcome.idleClientErrors} idle client(s) of the old primary; with no listener each is an uncaught exception`)
    const errors = f.errorsBefore + f.errorsDuringPromotion + f.errorsAfterPromotion
    if (errors > 0) {
      const kinds = Object.entries(f.notStartedKinds)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')
      out.push(
        `${errors} error(s) surfaced to callers for work not yet started: ${f.errorsDuringPromotion} during the promotion, ${f.errorsAfterPromotion} after it (${kinds})`,
      )
    }
    if (f.servedAfterPromotion === 0) out.push('no write succeeded after the standby was promoted')
    const held = new Set((await outcome.rowsOnNewPrimary()).map((r) => `${r.user_id}:${r.seq}`))
    const missing = outcome.requests.filter((r) => r.ok && !held.has(`${r.user}:${r.seq}`)).length
    if (missing > 0) out.push(`${missing} acknowledged write(s) are not on the new primary`)
    return out
  },
})

async function rowsOn(url: string): Promise<{ user_id: number; seq: number }[]> {
  return withAdmin(url, async (c) => (await c.query<{ user_id: number; seq: number }>('SELECT user_id, seq FROM writes')).rows)
}
