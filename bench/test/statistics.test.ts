/**
 * The statistics the benchmark's verdicts rest on: the bootstrap interval of a median, the
 * PASS / TIE / MISS decision, the interleaving of peers, and the per-repetition paired ratios.
 * Pure functions on fixed numbers: no database, no timing.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bootstrapMedianInterval, quantileOfSorted, seededRandom } from '../src/bootstrap.ts'
import { interleavedOrder } from '../src/interleave.ts'
import { countReferences, ratiosToBestPeer } from '../src/paired-ratios.ts'
import { judgeAtLeast, judgeAtMost, judgeBelow, MIN_REPETITIONS_FOR_VERDICT } from '../src/verdict.ts'

describe('quantileOfSorted', () => {
  it('interpolates between neighbours', () => {
    assert.equal(quantileOfSorted([1, 2, 3, 4], 0), 1)
    assert.equal(quantileOfSorted([1, 2, 3, 4], 0.5), 2.5)
    assert.equal(quantileOfSorted([1, 2, 3, 4], 1), 4)
    assert.equal(quantileOfSorted([10, 20, 30, 40, 50], 0.25), 20)
    assert.ok(Number.isNaN(quantileOfSorted([], 0.5)))
  })
})

describe('bootstrapMedianInterval', () => {
  it('gives a point for constant values and for a single value, nothing for none', () => {
    assert.deepEqual(bootstrapMedianInterval([1.2, 1.2, 1.2, 1.2]), { median: 1.2, low: 1.2, high: 1.2, n: 4 })
    assert.deepEqual(bootstrapMedianInterval([0.9]), { median: 0.9, low: 0.9, high: 0.9, n: 1 })
    const empty = bootstrapMedianInterval([])
    assert.equal(empty.n, 0)
    assert.ok(Number.isNaN(empty.median) && Number.isNaN(empty.low) && Number.isNaN(empty.high))
  })

  it('spans the whole range for three values: their median falls on an extreme a quarter of the time', () => {
    assert.deepEqual(bootstrapMedianInterval([0.8, 1.3, 1.0]), { median: 1.0, low: 0.8, high: 1.3, n: 3 })
  })

  it('holds the median, stays inside the values, and is the same every time for the same figures', () => {
    const ratios = [1.04, 0.97, 1.12, 1.08, 0.99, 1.15, 1.02, 1.06, 0.93, 1.1]
    const interval = bootstrapMedianInterval(ratios)
    assert.equal(interval.median, 1.05)
    assert.ok(interval.low <= interval.median && interval.median <= interval.high, JSON.stringify(interval))
    assert.ok(interval.low >= Math.min(...ratios) && interval.high <= Math.max(...ratios))
    assert.ok(interval.low < 1.02 && interval.high > 1.08, `ten spread ratios give a real interval: ${JSON.stringify(interval)}`)
    assert.deepEqual(bootstrapMedianInterval(ratios), interval)
    assert.deepEqual(bootstrapMedianInterval([...ratios].reverse()), interval, 'the order of the repetitions does not matter')
  })

  it('narrows as repetitions agree more', () => {
    const wide = bootstrapMedianInterval([0.7, 0.9, 1.0, 1.1, 1.3, 0.8, 1.2, 1.05, 0.95, 1.15])
    const narrow = bootstrapMedianInterval([0.97, 0.99, 1.0, 1.01, 1.03, 0.98, 1.02, 1.005, 0.995, 1.015])
    assert.ok(narrow.high - narrow.low < (wide.high - wide.low) / 5, `${JSON.stringify(narrow)} vs ${JSON.stringify(wide)}`)
  })

  it('covers the true median about 95% of the time', () => {
    // 400 experiments of 15 draws from a skewed distribution whose median is known: exp(N(0, 0.3)) has median 1.
    const random = seededRandom(42)
    const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
    let covered = 0
    const experiments = 400
    for (let e = 0; e < experiments; e++) {
      const sample = Array.from({ length: 15 }, () => Math.exp(0.3 * normal()))
      const { low, high } = bootstrapMedianInterval(sample, { resamples: 2_000, seed: e + 1 })
      if (low <= 1 && 1 <= high) covered++
    }
    const coverage = covered / experiments
    assert.ok(coverage >= 0.9 && coverage <= 0.995, `coverage ${coverage}`)
  })

  it('refuses a confidence outside (0, 1)', () => {
    assert.throws(() => bootstrapMedianInterval([1, 2], { confidence: 95 }), RangeError)
  })
})

describe('verdicts', () => {
  const n = 10
  it('PASS only when the lower bound clears an at-least goal, MISS only when the upper bound falls short', () => {
    assert.equal(judgeAtLeast({ low: 1.12, high: 1.3, n }, 1.1), 'PASS')
    assert.equal(judgeAtLeast({ low: 1.1, high: 1.3, n }, 1.1), 'PASS', 'a lower bound exactly at the goal clears it')
    assert.equal(judgeAtLeast({ low: 1.05, high: 1.3, n }, 1.1), 'TIE')
    assert.equal(judgeAtLeast({ low: 0.9, high: 1.1, n }, 1.1), 'TIE', 'an upper bound at the goal still straddles it')
    assert.equal(judgeAtLeast({ low: 0.9, high: 1.09, n }, 1.1), 'MISS')
  })

  it('mirrors that for at-most and strictly-below goals', () => {
    assert.equal(judgeAtMost({ low: 1.9, high: 3, n }, 3), 'PASS')
    assert.equal(judgeAtMost({ low: 2.5, high: 3.2, n }, 3), 'TIE')
    assert.equal(judgeAtMost({ low: 3.01, high: 4, n }, 3), 'MISS')
    assert.equal(judgeBelow({ low: 400, high: 1_023, n }, 1_024), 'PASS')
    assert.equal(judgeBelow({ low: 900, high: 1_024, n }, 1_024), 'TIE', 'an upper bound at the limit is not under it')
    assert.equal(judgeBelow({ low: 1_024, high: 1_100, n }, 1_024), 'MISS')
  })

  it(`gives no PASS or MISS on fewer than ${MIN_REPETITIONS_FOR_VERDICT} repetitions, however clear the median looks`, () => {
    const few = MIN_REPETITIONS_FOR_VERDICT - 1
    assert.equal(judgeAtLeast({ low: 2, high: 3, n: few }, 1), 'TIE')
    assert.equal(judgeAtLeast({ low: 0.1, high: 0.2, n: few }, 1), 'TIE')
    assert.equal(judgeAtMost({ low: 1, high: 1.5, n: few }, 3), 'TIE')
    assert.equal(judgeBelow({ low: 2_000, high: 2_100, n: few }, 1_024), 'TIE')
    assert.equal(judgeAtLeast({ low: 2, high: 3, n: MIN_REPETITIONS_FOR_VERDICT }, 1), 'PASS')
    // Why six: from the smallest to the largest of n values holds the median with 1 - 2 / 2^n.
    assert.ok(1 - 2 / 2 ** few < 0.95 && 1 - 2 / 2 ** MIN_REPETITIONS_FOR_VERDICT >= 0.95)
  })
})

describe('interleavedOrder', () => {
  it('runs A B C, then C B A, then rotates: six repetitions of three rows give every order once', () => {
    const orders = Array.from({ length: 6 }, (_, r) => interleavedOrder(['A', 'B', 'C'], r).join(''))
    assert.deepEqual(orders, ['ABC', 'CBA', 'BCA', 'ACB', 'CAB', 'BAC'])
  })

  it('puts every row in every position equally often over 2n repetitions', () => {
    for (const n of [2, 4, 5, 7, 14]) {
      const items = Array.from({ length: n }, (_, i) => i)
      const seen = Array.from({ length: n }, () => new Array<number>(n).fill(0))
      for (let r = 0; r < 2 * n; r++) {
        const order = interleavedOrder(items, r)
        assert.deepEqual(
          [...order].sort((a, b) => a - b),
          items,
          'each repetition runs every row once',
        )
        order.forEach((item, position) => (seen[item]![position]! += 1))
      }
      for (const counts of seen) assert.deepEqual(counts, new Array<number>(n).fill(2), `n = ${n}`)
    }
  })

  it('leaves one row or none alone, does not touch its input, and refuses a bad repetition', () => {
    assert.deepEqual(interleavedOrder(['only'], 5), ['only'])
    assert.deepEqual(interleavedOrder([], 1), [])
    const input = ['A', 'B', 'C']
    interleavedOrder(input, 1)
    assert.deepEqual(input, ['A', 'B', 'C'])
    assert.throws(() => interleavedOrder(input, -1), RangeError)
    assert.throws(() => interleavedOrder(input, 1.5), RangeError)
  })
})

describe('ratiosToBestPeer', () => {
  it('divides by the best peer of each repetition, whichever it is', () => {
    const peers = new Map([
      ['pg-pool', [100, 120, 90]],
      ['postgres.js', [150, 110, 95]],
    ])
    const { ratios, reference } = ratiosToBestPeer([165, 132, 190], peers)
    assert.deepEqual(ratios, [1.1, 1.1, 2])
    assert.deepEqual(reference, ['postgres.js', 'pg-pool', 'postgres.js'])
    assert.deepEqual(countReferences(reference), { 'postgres.js': 2, 'pg-pool': 1 })
  })

  it('skips a peer that failed or did not run, counts the subject failing as 0, and leaves a repetition without either out', () => {
    const peers = new Map<string, (number | null)[]>([
      ['pg-pool', [0, 100, null, 0]],
      ['Slonik', [50, null, null, 0]],
    ])
    const { ratios, reference } = ratiosToBestPeer([100, 0, 80, 90], peers)
    assert.deepEqual(ratios, [2, 0, null, null])
    assert.deepEqual(reference, ['Slonik', 'pg-pool', null, null])
    assert.deepEqual(ratiosToBestPeer([null], new Map([['pg-pool', [100]]])).ratios, [null])
  })
})
