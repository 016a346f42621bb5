/**
 * The live dashboard served at `/`: records per second of every topic, the pipelines' watermarks,
 * and a live feed of one topic (alerts by default), through `rivulet/client` (served as `/client.js`),
 * which reconnects and resumes by itself. A page without a build step of its own; `?token=` gives
 * it the API key or JWT of a server that is not open to anonymous callers.
 */
export const dashboardHtml = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rivulet</title>
<style>
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7385; --bg: #f6f7fb; --card: #fff; --accent: #2f6fed; --alert: #d33a2c; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9f0; --muted: #9aa3b5; --bg: #12151c; --card: #1b2029; --accent: #6b9bff; --alert: #ff6b5e; } }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: center; gap: 12px; padding: 14px 24px; background: var(--card); border-bottom: 1px solid #8882; }
  header h1 { font-size: 18px; margin: 0; }
  #conn { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #8883; }
  #conn.live { background: #2fa84f33; color: #2fa84f; }
  main { display: grid; grid-template-columns: minmax(300px, 1fr) 2fr; gap: 16px; padding: 16px 24px; }
  section { background: var(--card); border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px #0002; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 10px; }
  .big { font-size: 34px; font-weight: 600; font-variant-numeric: tabular-nums; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  td, th { text-align: left; padding: 4px 6px; border-bottom: 1px solid #8882; }
  th { color: var(--muted); font-weight: 500; }
  canvas { width: 100%; height: 80px; }
  #feed tr.new { animation: flash 1.5s; }
  @keyframes flash { from { background: #d33a2c40; } to { background: transparent; } }
  .muted { color: var(--muted); }
  select { font: inherit; }
  code { font-size: 12px; }
</style>
</head>
<body>
<header><h1>Rivulet</h1><span id="conn">connecting…</span><span class="muted" id="clock"></span></header>
<main>
  <div style="display:grid; gap:16px; align-content:start">
    <section>
      <h2>Events per second</h2>
      <div class="big" id="eps">–</div>
      <div class="muted" id="eps-topic"></div>
      <canvas id="chart" width="600" height="160"></canvas>
    </section>
    <section>
      <h2>Topics</h2>
      <table><thead><tr><th>topic</th><th>records/s</th><th>records</th></tr></thead><tbody id="topics"></tbody></table>
    </section>
    <section>
      <h2>Pipelines</h2>
      <table><thead><tr><th>pipeline</th><th>state</th><th>watermark</th><th>late</th></tr></thead><tbody id="pipelines"></tbody></table>
    </section>
  </div>
  <section>
    <h2>Live feed of <select id="feed-topic"></select> <span class="muted" id="feed-count"></span></h2>
    <table><thead><tr><th>time</th><th>key</th><th>event</th></tr></thead><tbody id="feed"></tbody></table>
  </section>
</main>
<script type="module">
const $ = (id) => document.getElementById(id);
const history = [];
import { createClient } from '/client.js';
const params = new URLSearchParams(location.search);
let feedTopic = params.get('topic') || 'alerts', feedSub, received = 0;
const fmtTime = (t) => t == null ? '–' : new Date(t).toLocaleTimeString();
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function drawChart() {
  const c = $('chart'), g = c.getContext('2d'), w = c.width, h = c.height;
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...history);
  g.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue('--accent');
  g.lineWidth = 3; g.beginPath();
  history.forEach((v, i) => { const x = (i / 59) * w, y = h - 4 - (v / max) * (h - 8); i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke();
}

function onMetrics(m) {
  $('clock').textContent = new Date(m.at).toLocaleTimeString();
  const topics = m.topics.filter((t) => !t.topic.startsWith('_'));
  // The headline is the input of the pipelines (the topics they read), else the busiest topic.
  const inputs = new Set(m.pipelines.flatMap((p) => Object.keys(p.positions)));
  const byRate = topics.slice().sort((a, b) => b.recordsPerSecond - a.recordsPerSecond);
  const input = byRate.find((t) => inputs.has(t.topic)) ?? byRate[0];
  if (input) {
    $('eps').textContent = Math.round(input.recordsPerSecond).toLocaleString();
    $('eps-topic').textContent = 'into ' + input.topic;
    history.push(input.recordsPerSecond); if (history.length > 60) history.shift(); drawChart();
  }
  $('topics').innerHTML = m.topics.map((t) => '<tr><td>' + esc(t.topic) + '</td><td>' + t.recordsPerSecond.toLocaleString() + '</td><td>' + t.endOffsets.reduce((a, b) => a + b, 0).toLocaleString() + '</td></tr>').join('');
  $('pipelines').innerHTML = m.pipelines.map((p) => '<tr><td>' + esc(p.pipeline) + '</td><td>' + esc(p.state) + '</td><td>' + fmtTime(p.watermark) + '</td><td>' + p.lateEvents + '</td></tr>').join('');
  const sel = $('feed-topic'), names = m.topics.map((t) => t.topic);
  if (sel.options.length !== names.length) {
    sel.innerHTML = names.map((n) => '<option' + (n === feedTopic ? ' selected' : '') + '>' + esc(n) + '</option>').join('');
  }
}

function describe(v) {
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => '<b>' + esc(k) + '</b> ' + esc(typeof x === 'number' && x > 1e12 ? fmtTime(x) : JSON.stringify(x))).join(' · ');
  return esc(JSON.stringify(v));
}

function onRecords(records) {
  received += records.length;
  $('feed-count').textContent = '(' + received.toLocaleString() + ' received)';
  const rows = records.slice(-50).reverse().map((r) => '<tr class="new" data-offset="' + r.partition + ':' + r.offset + '"><td>' + fmtTime(r.timestamp) + '</td><td>' + esc(r.key ?? '') + '</td><td>' + describe(r.value) + '</td></tr>').join('');
  const feed = $('feed');
  feed.insertAdjacentHTML('afterbegin', rows);
  while (feed.rows.length > 50) feed.deleteRow(feed.rows.length - 1);
}

function subscribeFeed() {
  feedSub?.close();
  received = 0; $('feed').innerHTML = ''; $('feed-count').textContent = '';
  feedSub = client.subscribe(feedTopic, { from: { last: 20 }, onRecords, onError: (e) => { $('feed-count').textContent = e.message; } });
}

const client = createClient({
  url: location.origin,
  ...(params.get('token') ? { token: params.get('token') } : {}),
  onStatus: (status) => { $('conn').textContent = status === 'open' ? 'live' : status + '…'; $('conn').className = status === 'open' ? 'live' : ''; },
});
client.subscribeMetrics({ onMetrics, onError: (e) => { $('eps-topic').textContent = e.message; } });
$('feed-topic').onchange = (e) => { feedTopic = e.target.value; subscribeFeed(); };
subscribeFeed();
</script>
</body>
</html>
`;
