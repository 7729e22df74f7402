/** The bench's command line: what each flag selects, and the errors for what it does not know. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isPublished, selected, settingsFromArgs, UsageError, type BenchSettings } from '../src/settings.ts'

function parse(...args: string[]): BenchSettings {
  const settings = settingsFromArgs(args)
  assert.notEqual(settings, 'help')
  return settings as BenchSettings
}

describe('settingsFromArgs', () => {
  it('runs everything on Node 20 and 24 by default, and that is the published run', () => {
    const settings = parse()
    assert.equal(settings.mode, 'full')
    assert.deepEqual(settings.nodeMajors, [20, 24])
    assert.deepEqual(settings.sweep, [1, 10, 64, 256, 1_000, 4_000])
    assert.equal(settings.only, null)
    assert.equal(isPublished(settings), true)
  })

  it('makes --quick short and never published; --repetitions, --node and --only as given', () => {
    const quick = parse('--quick')
    assert.equal(quick.mode, 'quick')
    assert.ok(quick.repetitions < parse().repetitions && quick.durationMs < parse().durationMs)
    assert.equal(isPublished(quick), false)
    const custom = parse('--repetitions', '12', '--node=22,20', '--only', 'select-one-1000,ten-reads')
    assert.equal(custom.repetitions, 12)
    assert.deepEqual(custom.nodeMajors, [22, 20])
    assert.equal(isPublished(custom), false, 'a partial run is a trial')
    assert.equal(selected(custom, 'select-one-1000', 'select-one'), true)
    assert.equal(selected(custom, 'select-one-64', 'select-one'), false)
    assert.equal(selected(custom, 'ten-reads', 'ten-reads'), true)
    assert.equal(selected(parse('--only', 'select-one'), 'select-one-64', 'select-one'), true)
    assert.equal(settingsFromArgs(['--help']), 'help')
  })

  it('--render names a run to present again and takes nothing else', () => {
    assert.deepEqual(settingsFromArgs(['--render', 'bench/results/2026-11-30-vm']), { render: 'bench/results/2026-11-30-vm' })
    assert.deepEqual(settingsFromArgs(['--render=bench/results/x']), { render: 'bench/results/x' })
    assert.throws(() => settingsFromArgs(['--render']), /--render takes the directory of a run/)
    assert.throws(() => settingsFromArgs(['--render', 'dir', '--quick']), /--render takes no other option/)
    assert.throws(() => settingsFromArgs(['--quick', '--render', 'dir']), /--render takes no other option/)
  })

  it('refuses what it does not know, with the usage', () => {
    assert.throws(
      () => parse('--fast'),
      (err: unknown) => err instanceof UsageError && /Unknown argument --fast/.test(err.message) && /usage: npm run bench/.test(err.message),
    )
    assert.throws(() => parse('--repetitions', '0'), /--repetitions takes a whole number >= 1, got 0/)
    assert.throws(() => parse('--repetitions'), /got nothing/)
    assert.throws(() => parse('--node', '24,24'), /names a Node major twice/)
    assert.throws(() => parse('--only', 'select-two'), /--only: no workload select-two/)
    assert.throws(() => parse('--only', 'select-one-100'), /the SELECT 1 sweep has 1, 10, 64, 256, 1000, 4000 workers, not 100/)
  })
})
