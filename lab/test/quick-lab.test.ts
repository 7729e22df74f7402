/**
 * The quick race lab (see quick-lab.ts), every scenario except those that stop, restart or
 * replace servers (quick-lab-faults.test.ts). The lab exits non-zero if any pgsteward variant
 * violated its invariant.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { SCENARIOS } from '../src/scenarios/index.ts'
import { describeQuickLab, runLab, SERVER_FAULT_SCENARIOS } from './quick-lab.ts'

describeQuickLab(
  'race lab (quick)',
  SCENARIOS.filter((s) => !SERVER_FAULT_SCENARIOS.has(s.id)),
)

it('the race lab refuses --only with a number that names no scenario, instead of running nothing', async () => {
  const { code, output } = await runLab(['--only', '3,99'])
  assert.notEqual(code, 0)
  assert.match(output, /--only takes scenario numbers separated by commas, from: 1, 2, 3/)
})
