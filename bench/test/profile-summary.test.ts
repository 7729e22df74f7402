import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { summariseProfile, type CpuProfile } from '../src/profile-summary.ts'

const frame = (id: number, functionName: string, url: string, lineNumber = 0): CpuProfile['nodes'][number] => ({
  id,
  callFrame: { functionName, url, lineNumber },
})

describe('CPU profile summary', () => {
  it('shares self time among busy samples only, by frame and by group, the biggest first', () => {
    const profile: CpuProfile = {
      nodes: [
        frame(1, '(idle)', ''),
        frame(2, '#serveWaiter', 'file:///repo/packages/pgsteward/dist/pool/pool.js', 438),
        frame(3, 'AsyncContextFrame', 'node:internal/async_context_frame', 42),
        frame(4, '(garbage collector)', ''),
        frame(5, '_pulseQueue', 'file:///repo/node_modules/pg-pool/index.js', 126),
      ],
      // Each sample's time is the delta recorded with the next sample: 10 µs apart throughout.
      samples: [1, 1, 2, 2, 2, 3, 4, 5, 1],
      timeDeltas: [0, 10, 10, 10, 10, 10, 10, 10, 10],
    }
    const summary = summariseProfile(profile, 3)
    assert.equal(summary.samples, 6)
    assert.equal(summary.busyMs, 0.06)
    // Idle samples count in the window, not in the busy time.
    assert.equal(summary.sampledMs, 0.09)
    assert.deepEqual(
      summary.top.map((f) => [f.name, f.where, f.group, Math.round(f.selfPercent)]),
      [
        ['#serveWaiter', 'pgsteward/pool/pool.js:439', 'pgsteward', 50],
        ['AsyncContextFrame', 'node:internal/async_context_frame:43', 'AsyncLocalStorage', 17],
        ['(garbage collector)', 'V8', 'garbage collector', 17],
      ],
    )
    assert.deepEqual(
      summary.groups.map((g) => [g.group, Math.round(g.selfPercent)]),
      [
        ['pgsteward', 50],
        ['AsyncLocalStorage', 17],
        ['garbage collector', 17],
        ['driver (pg, postgres.js)', 17],
      ],
    )
  })

  it('gives an empty summary for a profile without samples', () => {
    const summary = summariseProfile({ nodes: [frame(1, '(root)', '')] })
    assert.deepEqual(summary, { busyMs: 0, sampledMs: 0, samples: 0, top: [], groups: [] })
  })
})
