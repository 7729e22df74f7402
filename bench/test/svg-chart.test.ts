/** The benchmark's own SVG charts: axis ticks, escaping, lines broken where a value is missing. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { escapeXml, linearTicks, logTicks, renderChart } from '../src/svg-chart.ts'

describe('ticks', () => {
  it('steps a linear axis by 1, 2 or 5 times a power of ten, from 0 past the largest value', () => {
    assert.deepEqual(linearTicks(47), [0, 10, 20, 30, 40, 50])
    assert.deepEqual(linearTicks(0.3), [0, 0.1, 0.2, 0.3])
    assert.deepEqual(linearTicks(87_000), [0, 20_000, 40_000, 60_000, 80_000, 100_000])
    assert.deepEqual(linearTicks(0), [0])
  })

  it('marks 1, 2 and 5 of each decade on a log axis, decades only when that is too many', () => {
    assert.deepEqual(logTicks(0.8, 30), [1, 2, 5, 10, 20])
    assert.deepEqual(logTicks(0.05, 5_000), [0.1, 1, 10, 100, 1_000])
  })
})

describe('renderChart', () => {
  it('draws one line per series, broken where a value is missing, with escaped names', () => {
    const svg = renderChart({
      title: 'SELECT 1 <sweep> & more',
      panels: [
        {
          title: 'Throughput',
          xLabel: 'workers',
          yLabel: 'ops/s',
          xLog: true,
          yLog: false,
          formatY: String,
          series: [
            { name: 'pgsteward', color: '#d62728', emphasis: true, points: [1, 10, 64, 256].map((x) => ({ x, y: x * 10 })) },
            {
              name: 'pgbench "limit"',
              color: '#777',
              dashed: true,
              points: [
                { x: 1, y: 5 },
                { x: 10, y: 50 },
                { x: 64, y: null },
                { x: 256, y: 900 },
                { x: 1000, y: 950 },
              ],
            },
          ],
        },
      ],
    })
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
    assert.ok(svg.trimEnd().endsWith('</svg>'))
    assert.ok(svg.includes('SELECT 1 &lt;sweep&gt; &amp; more'))
    assert.ok(svg.includes('pgbench &quot;limit&quot;'))
    assert.equal((svg.match(/<path /g) ?? []).length, 3, 'one path for pgsteward, two for the broken pgbench line')
    assert.equal((svg.match(/<circle /g) ?? []).length, 8, 'a marker per measured point')
    assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 3, 'both pgbench segments and its legend entry are dashed')
  })

  it('escapes the five characters that matter in XML text and attributes', () => {
    assert.equal(escapeXml(`a<b>&"c"`), 'a&lt;b&gt;&amp;&quot;c&quot;')
  })
})
