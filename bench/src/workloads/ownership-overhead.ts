/**
 * Workload 5: what the scope / ownership layer costs. db.query(sql`SELECT 1`) against the same
 * statement through `db.pool.acquire()` + `conn.query` + `db.pool.release(conn)`, which skips
 * the scope lookup, statement compilation, result shaping and error mapping.
 */
import type { OwnershipOverhead, ThroughputWorkloadResult } from '../results.ts'
import { median } from '../stats.ts'
import { ALS_ON_NOTE, PGSTEWARD, PGSTEWARD_SCOPES_IN_USE, type ThroughputWorkload } from './workload.ts'

export const POOL_ONLY_LABEL = 'pgsteward db.pool, no scopes'

export function ownershipOverheadWorkload(workers: number): ThroughputWorkload {
  return {
    id: 'ownership-overhead',
    title: '2c. Ownership overhead (SELECT 1)',
    description: "pgsteward ``db.query(sql`SELECT 1`)`` vs `db.pool.acquire()` + `conn.query({ text: 'SELECT 1' })` + `db.pool.release(conn)`.",
    workers,
    entries: [
      { kind: 'pooled', label: PGSTEWARD, peer: 'pgsteward', operation: 'selectOne', note: '``db.query(sql`SELECT 1`)``' },
      { kind: 'pooled', label: POOL_ONLY_LABEL, peer: 'pgsteward', operation: 'selectOneBypassingScopes', note: 'bypasses the scope / ownership layer' },
      { kind: 'pooled', label: PGSTEWARD_SCOPES_IN_USE, peer: 'pgsteward-scopes-in-use', operation: 'selectOne', note: ALS_ON_NOTE },
    ],
  }
}

/** Overhead = how much slower db.query is than the bare pool path, in %. */
export function ownershipOverhead(result: ThroughputWorkloadResult): OwnershipOverhead | null {
  const scoped = result.rows.find((row) => row.label === PGSTEWARD)
  const poolOnly = result.rows.find((row) => row.label === POOL_ONLY_LABEL)
  if (scoped?.opsPerSecMedian == null || poolOnly?.opsPerSecMedian == null) return null
  const slowdown = (scopedOps: number, poolOnlyOps: number): number => (1 - scopedOps / poolOnlyOps) * 100
  // Runs are stored in repetition order for every row, so index i pairs the same repetition.
  const perRepetitionPercent = scoped.runs.map((run, i) => slowdown(run.opsPerSec, poolOnly.runs[i]?.opsPerSec ?? NaN))
  const scopedCpu = scoped.cpuMicrosPerOpMedian
  const poolOnlyCpu = poolOnly.cpuMicrosPerOpMedian
  return {
    scopedOpsPerSec: scoped.opsPerSecMedian,
    poolOnlyOpsPerSec: poolOnly.opsPerSecMedian,
    overheadPercent: slowdown(scoped.opsPerSecMedian, poolOnly.opsPerSecMedian),
    perRepetitionPercent,
    pairedMedianPercent: median(perRepetitionPercent),
    scopedCpuMicrosPerOp: scopedCpu,
    poolOnlyCpuMicrosPerOp: poolOnlyCpu,
    cpuOverheadPercent: scopedCpu === null || poolOnlyCpu === null ? null : (scopedCpu / poolOnlyCpu - 1) * 100,
  }
}
