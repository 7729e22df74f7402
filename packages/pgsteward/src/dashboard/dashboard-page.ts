/**
 * The dashboard's one page: HTML with its CSS and script inline (no CDN, no build step), light
 * or dark as the device prefers, laid out for a phone first. The script opens the event stream
 * and renders each sample; every value it shows is set with textContent, so statement text and
 * call sites can never become markup. The Content-Security-Policy allows exactly this script
 * and style (by hash) and connections back to the same origin.
 */
import { createHash } from 'node:crypto'

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #ffffff; --ink: #17202a; --muted: #5b6775; --line: #dde2e8;
  --used: #2f6fdf; --idle: #2e9d62; --connecting: #c8a12a; --waiting: #d9822b; --bad: #c93c3c; --code: #eef1f5; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --card: #161b22; --ink: #d8dee6; --muted: #8b96a3; --line: #2a313b;
    --used: #5b9cff; --idle: #46c07f; --connecting: #d9b648; --waiting: #f0a050; --bad: #ff6b6b; --code: #1e2530; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; padding: .9rem 1rem .4rem; }
h1 { font-size: 1.15rem; margin: 0; font-weight: 650; }
h2 { font-size: .8rem; margin: 0 0 .5rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); font-weight: 600; }
.meta { color: var(--muted); font-size: .85rem; }
.status { font-size: .78rem; padding: .1rem .55rem; border-radius: 1rem; border: 1px solid var(--line); }
.status[data-state="live"] { color: var(--idle); border-color: var(--idle); }
.status[data-state="reconnecting"], .status[data-state="closed"], .status[data-state="expired"] { color: var(--bad); border-color: var(--bad); }
main { display: flex; flex-direction: column; gap: .75rem; padding: .5rem 1rem 1.5rem; }
.cards { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 16rem), 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .8rem .9rem; min-width: 0; }
h2 .scale { text-transform: none; letter-spacing: 0; font-weight: 400; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(6.5rem, 1fr)); gap: .6rem; }
.tile { min-width: 0; }
.value { font-size: 1.7rem; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.1; }
.label { color: var(--muted); font-size: .78rem; }
.alert .value { color: var(--bad); }
.bar { display: flex; height: .7rem; border-radius: .35rem; overflow: hidden; background: var(--code); margin: .7rem 0 .3rem; }
.bar span { display: block; height: 100%; }
.bar .used { background: var(--used); } .bar .idle { background: var(--idle); } .bar .connecting { background: var(--connecting); }
.legend { display: flex; flex-wrap: wrap; gap: .2rem .9rem; font-size: .78rem; color: var(--muted); }
.legend i { display: inline-block; width: .6rem; height: .6rem; border-radius: .15rem; margin-right: .3rem; }
.legend i.used { background: var(--used); } .legend i.idle { background: var(--idle); } .legend i.connecting { background: var(--connecting); } .legend i.waiting { background: var(--waiting); }
polyline.used { stroke: var(--used); } polyline.waiting { stroke: var(--waiting); } polyline.idle { stroke: var(--idle); }
svg { width: 100%; height: 7rem; display: block; }
svg polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }
table { width: 100%; border-collapse: collapse; font-size: .85rem; }
th, td { text-align: left; padding: .35rem .4rem; border-top: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; border-top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font: .8rem/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code); border-radius: .3rem; }
code { padding: .05rem .3rem; word-break: break-word; }
pre { margin: .3rem 0 0; padding: .4rem .5rem; white-space: pre-wrap; word-break: break-all; }
details summary { cursor: pointer; color: var(--muted); }
.leaked { color: var(--bad); font-weight: 600; }
.empty { color: var(--muted); font-size: .85rem; }
ol.slow { list-style: none; padding: 0; margin: 0; }
ol.slow li { padding: .45rem 0; border-top: 1px solid var(--line); }
ol.slow li:first-child { border-top: 0; }
.slow .figures { display: flex; flex-wrap: wrap; gap: .2rem .8rem; font-size: .8rem; color: var(--muted); margin-bottom: .25rem; }
.slow .figures b { color: var(--ink); font-variant-numeric: tabular-nums; }
@media (max-width: 30rem) { .value { font-size: 1.4rem; } main { padding: .4rem .5rem 1rem; } header { padding: .7rem .6rem .3rem; } .hide-narrow { display: none; } }
`

const SCRIPT = `
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const metric = (name) => document.querySelector('[data-metric="' + name + '"]');
  const set = (name, text) => { const el = metric(name); if (el) el.textContent = text; };
  const ms = (v) => v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : v >= 10 ? Math.round(v) + ' ms' : v >= 1 ? v.toFixed(1) + ' ms' : v > 0 ? Math.round(v * 1000) + ' µs' : '0';
  const held = (v) => v >= 3600000 ? Math.floor(v / 3600000) + ' h ' + Math.floor(v % 3600000 / 60000) + ' min' : v >= 60000 ? Math.floor(v / 60000) + ' min ' + Math.floor(v % 60000 / 1000) + ' s' : ms(v);
  const rate = (v) => v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(v === 0 ? 0 : 2);
  const clock = (t) => new Date(t).toLocaleTimeString();
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const history = [];
  // 'handler (/srv/app/src/routes/lessons.ts:42:11)' → 'handler · lessons.ts:42'
  const frame = (line) => {
    const m = /^(?:(.*?) \\()?(?:file:\\/\\/)?(?:.*[\\/])?([^\\/:()]+):(\\d+):\\d+\\)?$/.exec(line);
    return m ? (m[1] && m[1] !== '<anonymous>' ? m[1] + ' · ' : '') + m[2] + ':' + m[3] : line;
  };
  const status = (state, text) => { const s = $('status'); s.dataset.state = state; s.textContent = text; };

  function chart(svgId, series) {
    const svg = $(svgId);
    const max = Math.max(1, ...series.flatMap((s) => history.map((p) => p[s.key])));
    const n = Math.max(history.length - 1, 1);
    for (const s of series) {
      const line = svg.querySelector('[data-series="' + s.key + '"]');
      line.setAttribute('points', history.map((p, i) => (i / n * 100).toFixed(2) + ',' + (38 - p[s.key] / max * 36).toFixed(2)).join(' '));
    }
    svg.dataset.max = String(max);
    const top = svg.parentElement.querySelector('.scale');
    if (top) top.textContent = '· peak ' + (Number.isInteger(max) ? max : max.toFixed(1));
  }

  function render(s) {
    const c = s.connections;
    set('used', c.used); set('idle', c.idle); set('connecting', c.connecting); set('total', c.total); set('max', c.max);
    set('waiting', s.waiting);
    set('statementsPerSecond', rate(s.statements.perSecond));
    set('errorsPerSecond', rate(s.statements.errorsPerSecond));
    set('waitP50', ms(s.acquireWaitMs.p50)); set('waitP90', ms(s.acquireWaitMs.p90)); set('waitP99', ms(s.acquireWaitMs.p99)); set('waitMax', ms(s.acquireWaitMs.max));
    set('waitCount', s.acquireWaitMs.count);
    set('timeouts', s.counters.timeouts); set('leaks', s.counters.leaks); set('retries', s.counters.retries);
    set('acquired', s.counters.acquired); set('created', s.counters.created); set('destroyed', s.counters.destroyed);
    set('connectFailures', s.counters.connectFailures); set('pipelined', s.counters.pipelined);
    metric('waiting').closest('.tile').classList.toggle('alert', s.waiting > 0);
    metric('timeouts').closest('.tile').classList.toggle('alert', s.counters.timeouts > 0);
    metric('leaks').closest('.tile').classList.toggle('alert', s.counters.leaks > 0);
    const width = (n) => (c.max > 0 ? Math.min(100, n / c.max * 100) : 0) + '%';
    $('bar-used').style.width = width(c.used); $('bar-idle').style.width = width(c.idle); $('bar-connecting').style.width = width(c.connecting);
    $('pool-name').textContent = s.pool.name;
    $('server').textContent = s.pool.serverVersion ? 'PostgreSQL ' + s.pool.serverVersion : '';
    $('updated').textContent = 'updated ' + clock(s.at);

    const holders = $('holders');
    holders.replaceChildren();
    for (const h of s.holders) {
      const row = el('tr');
      row.dataset.connection = String(h.connectionId);
      row.append(el('td', 'num', '#' + h.connectionId));
      const state = el('td', h.leaked ? 'leaked' : '', h.state === 'shared' ? 'shared by ' + h.sharing : h.leaked ? 'held (leak?)' : h.state === 'exclusive' ? 'held' : h.state);
      row.append(state, el('td', 'num', held(h.heldMs)), el('td', 'num hide-narrow', clock(h.since)));
      const site = el('td');
      if (h.site) {
        const d = el('details');
        d.append(el('summary', '', frame(h.site.split('\\n')[0])), el('pre', '', h.site));
        site.append(d);
      } else site.append(el('span', 'empty', h.state === 'shared' ? 'one-shot statements' : 'not recorded'));
      row.append(site);
      holders.append(row);
    }
    $('holders-empty').hidden = s.holders.length > 0;
    $('holders-more').textContent = s.holdersNotShown > 0 ? '+' + s.holdersNotShown + ' more' : '';

    const slow = $('slowest');
    slow.replaceChildren();
    for (const q of s.slowest) {
      const li = el('li');
      const figures = el('div', 'figures');
      const fig = (label, value) => { const span = el('span', '', label + ' '); span.append(el('b', '', value)); figures.append(span); };
      fig('max', ms(q.maxMs)); fig('avg', ms(q.totalMs / q.count)); fig('runs', String(q.count));
      if (q.errors > 0) fig('failed', String(q.errors));
      const code = el('code', '', q.sql.length > 600 ? q.sql.slice(0, 600) + '…' : q.sql);
      code.dataset.sql = '';
      li.append(figures, code);
      slow.append(li);
    }
    $('slowest-empty').hidden = s.slowest.length > 0;

    const events = $('events');
    events.replaceChildren();
    const items = [
      ...s.recentTimeouts.map((t) => ({ at: t.at, text: 'timeout after waiting ' + ms(t.waitedMs), site: undefined })),
      ...s.recentLeaks.map((l) => ({ at: l.at, text: 'leak: #' + l.connectionId + ' held ' + held(l.heldMs), site: l.site })),
    ].sort((a, b) => b.at - a.at).slice(0, 10);
    for (const item of items) {
      const li = el('li', '', clock(item.at) + ' ' + item.text);
      if (item.site) li.append(el('pre', '', item.site));
      events.append(li);
    }
    $('events-empty').hidden = items.length > 0;
  }

  function remember(point) {
    history.push(point);
    if (history.length > 120) history.shift();
    chart('chart-connections', [{ key: 'used' }, { key: 'waiting' }]);
    chart('chart-statements', [{ key: 'perSecond' }]);
  }

  const source = new EventSource(document.body.dataset.events + location.search);
  source.addEventListener('open', () => status('live', 'live'));
  source.addEventListener('history', (e) => { history.length = 0; for (const p of JSON.parse(e.data)) history.push(p); });
  source.addEventListener('sample', (e) => {
    const s = JSON.parse(e.data);
    render(s);
    remember({ at: s.at, used: s.connections.used, idle: s.connections.idle, waiting: s.waiting, perSecond: s.statements.perSecond });
    status('live', 'live');
  });
  source.addEventListener('closed', () => { source.close(); status('closed', 'database closed'); });
  source.addEventListener('expired', () => { source.close(); status('expired', 'session expired: reload to sign in again'); });
  source.addEventListener('error', () => { if (source.readyState !== EventSource.CLOSED) status('reconnecting', 'reconnecting…'); else if ($('status').dataset.state === 'live') status('closed', 'disconnected'); });
})();
`

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

/** The Content-Security-Policy of the page: its own inline script and style, and its stream. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function tile(name: string, label: string, extra = ''): string {
  return `<div class="tile${extra}"><div class="value" data-metric="${name}">–</div><div class="label">${label}</div></div>`
}

/** The page for a dashboard whose stream is at `eventsPath`. */
export function dashboardPage(title: string, eventsPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}: pool</title>
<style>${STYLE}</style>
</head>
<body data-events="${escapeHtml(eventsPath)}">
<header>
  <h1>${escapeHtml(title)}</h1>
  <span class="status" id="status" data-state="connecting">connecting…</span>
  <span class="meta"><span id="pool-name"></span> · <span id="server"></span> · <span id="updated"></span></span>
</header>
<main>
  <section aria-labelledby="h-connections">
    <h2 id="h-connections">Connections</h2>
    <div class="tiles">
      ${tile('used', 'in use')}${tile('idle', 'idle')}${tile('connecting', 'connecting')}${tile('max', 'max')}${tile('waiting', 'waiting')}${tile('statementsPerSecond', 'statements/s')}
    </div>
    <div class="bar" role="img" aria-label="connections in use, idle and connecting, of max"><span class="used" id="bar-used"></span><span class="idle" id="bar-idle"></span><span class="connecting" id="bar-connecting"></span></div>
    <div class="legend"><span><i class="used"></i>in use</span><span><i class="idle"></i>idle</span><span><i class="connecting"></i>connecting</span><span>total <b data-metric="total">–</b></span></div>
  </section>
  <div class="cards">
  <section aria-labelledby="h-wait">
    <h2 id="h-wait">Wait for a connection (last 10 s)</h2>
    <div class="tiles">${tile('waitP50', 'p50')}${tile('waitP90', 'p90')}${tile('waitP99', 'p99')}${tile('waitMax', 'max')}</div>
    <div class="legend"><span>acquires <b data-metric="waitCount">–</b></span></div>
  </section>
  <section aria-labelledby="h-trouble">
    <h2 id="h-trouble">Trouble (since start)</h2>
    <div class="tiles">${tile('timeouts', 'timeouts')}${tile('leaks', 'leaks')}${tile('retries', 'tx retries')}${tile('errorsPerSecond', 'errors/s')}</div>
    <div class="legend"><span>acquired <b data-metric="acquired">–</b></span><span>opened <b data-metric="created">–</b></span><span>closed <b data-metric="destroyed">–</b></span><span>connect failures <b data-metric="connectFailures">–</b></span><span>pipelined <b data-metric="pipelined">–</b></span></div>
  </section>
  <section aria-labelledby="h-history">
    <h2 id="h-history">In use and waiting <span class="meta scale"></span></h2>
    <svg id="chart-connections" viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="connections in use and waiting over the last two minutes">
      <polyline class="used" data-series="used"></polyline><polyline class="waiting" data-series="waiting"></polyline>
    </svg>
    <div class="legend"><span><i class="used"></i>in use</span><span><i class="waiting"></i>waiting</span></div>
  </section>
  <section aria-labelledby="h-rate">
    <h2 id="h-rate">Statements per second <span class="meta scale"></span></h2>
    <svg id="chart-statements" viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="statements per second over the last two minutes">
      <polyline class="idle" data-series="perSecond"></polyline>
    </svg>
  </section>
  </div>
  <section aria-labelledby="h-holders">
    <h2 id="h-holders">Who holds the connections <span class="meta" id="holders-more"></span></h2>
    <table><thead><tr><th class="num">conn</th><th>state</th><th class="num">held for</th><th class="num hide-narrow">since</th><th>acquired at</th></tr></thead><tbody id="holders"></tbody></table>
    <p class="empty" id="holders-empty">No connection is lent.</p>
  </section>
  <section aria-labelledby="h-slowest">
    <h2 id="h-slowest">Slowest statements (last 5 min, text only)</h2>
    <ol class="slow" id="slowest"></ol>
    <p class="empty" id="slowest-empty">No statement yet.</p>
  </section>
  <section aria-labelledby="h-events">
    <h2 id="h-events">Recent timeouts and leaks</h2>
    <ul id="events"></ul>
    <p class="empty" id="events-empty">None since this page's server started watching.</p>
  </section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`
}
