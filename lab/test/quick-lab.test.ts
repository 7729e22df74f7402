/**
 * The quick race lab (see quick-lab.ts): the request-level scenarios, and the checks that every
 * scenario is run by exactly one of the quick-lab test files.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { SCENARIOS } from '../src/scenarios/index.ts'
import { describeQuickLab, QUICK_LAB_GROUPS, quickLabGroup, runLab } from './quick-lab.ts'

describeQuickLab('race lab (quick)', quickLabGroup('requests'))

it('the quick lab test files run every scenario, each once', () => {
  const grouped = Object.values(QUICK_LAB_GROUPS).flat()
  assert.deepEqual(
    [...grouped].sort((a, b) => a - b),
    SCENARIOS.map((s) => s.id).sort((a, b) => a - b),
  )
})

it('the race lab refuses --only with a number that names no scenario, instead of running nothing', async () => {
  const { code, output } = await runLab(['--only', '3,99'])
  assert.notEqual(code, 0)
  assert.match(output, /--only takes scenario numbers separated by commas, from: 1, 2, 3/)
})
