import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRivulet } from '../../src/cli/node.js';
import { count } from '../../src/engine/aggregates.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { tumbling } from '../../src/engine/windows.js';
import { samples } from '../helpers/prometheus.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

interface Reading { sensor: string; ts: number }

const perSensor = definePipeline({
  name: 'per-sensor',
  setup(app) {
    app.stream<Reading>('readings', { time: 'ts', outOfOrderness: '1s', partitions: 1 })
      .keyBy((r) => r.sensor)
      .window(tumbling('10s'), { lateOutput: 'late-readings' })
      .aggregate({ n: count() })
      .to('sensor-counts');
  },
});


test('GET /metrics: each pipeline\'s events in, records out, late events and watermark', async () => {
  const tmp = tempDir();
  const rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [perSensor] });
  try {
    const t0 = 1_700_000_000_000;
    // 20 s of readings, then 3 that belong to the first window, which closed long ago.
    const events = [
      ...Array.from({ length: 40 }, (_, i) => ({ sensor: `s${i % 3}`, ts: t0 + i * 500 })),
      ...Array.from({ length: 3 }, (_, i) => ({ sensor: 's0', ts: t0 + i })),
    ];
    const res = await fetch(`${rivulet.url}/v1/topics/readings/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    assert.equal(res.status, 200);
    await waitFor('every reading processed', () => rivulet.engine.status()[0]!.eventsIn === events.length);
    const status = rivulet.engine.status()[0]!;
    assert.equal(status.lateEvents, 3);

    const text = await (await fetch(`${rivulet.url}/metrics`)).text();
    assert.match(text, /# TYPE rivulet_pipeline_late_events_total counter/);
    const label = '{pipeline="per-sensor"}';
    assert.equal(samples(text, 'rivulet_pipeline_events_in_total').get(label), events.length);
    assert.equal(samples(text, 'rivulet_pipeline_late_events_total').get(label), 3);
    assert.equal(samples(text, 'rivulet_pipeline_records_out_total').get(label), status.recordsOut);
    assert.ok(status.recordsOut >= 3 + 3, 'closed windows and the late events went out');
    assert.equal(samples(text, 'rivulet_pipeline_watermark_ms').get(label), status.watermark);
    assert.equal(status.watermark, t0 + 39 * 500 - 1000);
    assert.ok(status.epoch >= 1);
    assert.equal(samples(text, 'rivulet_pipeline_commits_total').get(label), status.epoch);
    const commitSeconds = samples(text, 'rivulet_pipeline_last_commit_seconds').get(label)!;
    assert.ok(commitSeconds > 0 && commitSeconds < 60, `last commit took ${commitSeconds} s`);

    // Counters only grow: a second scrape with nothing new gives the same totals.
    const again = await (await fetch(`${rivulet.url}/metrics`)).text();
    assert.equal(samples(again, 'rivulet_pipeline_late_events_total').get(label), 3);
  } finally {
    await rivulet.stop();
    tmp.remove();
  }
});

test("a view of a pipeline's results states the watermark its rows are complete up to", async () => {
  const tmp = tempDir();
  const rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [perSensor] });
  try {
    const t0 = 1_700_000_000_000;
    const before = await (await fetch(`${rivulet.url}/v1/views/sensor-counts/rows`)).json() as { watermark: number | null };
    assert.equal(before.watermark, null, 'nothing committed yet');
    // 25 s of readings: windows [t0, t0+10s) and [t0+10s, t0+20s) close, the third stays open.
    const events = Array.from({ length: 50 }, (_, i) => ({ sensor: `s${i % 2}`, ts: t0 + i * 500 }));
    await fetch(`${rivulet.url}/v1/topics/readings/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    const expected = t0 + 49 * 500 - 1000;
    type Rows = { rows: { key: string; value: { n: number; windowEnd?: number } }[]; watermark: number | null; positions: number[] };
    const page = await waitFor('the view at the watermark', async () => {
      const body = await (await fetch(`${rivulet.url}/v1/views/sensor-counts/rows`)).json() as Rows;
      return body.watermark === expected ? body : undefined;
    });
    assert.equal(rivulet.engine.status()[0]!.publishedWatermark, expected);
    // Every window that ended at or before the watermark is in the rows the answer holds.
    assert.equal(page.rows.length, 2, JSON.stringify(page.rows));
    assert.deepEqual(page.rows.map((r) => r.value.n), [10, 10]);
    const one = await fetch(`${rivulet.url}/v1/views/sensor-counts/keys/${encodeURIComponent(page.rows[0]!.key)}`);
    assert.equal(one.headers.get('rivulet-watermark'), String(expected));
    const count = await (await fetch(`${rivulet.url}/v1/views/sensor-counts/count`)).json() as { watermark: number };
    assert.equal(count.watermark, expected);
  } finally {
    await rivulet.stop();
    tmp.remove();
  }
});
