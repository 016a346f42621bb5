/** An SSE topic stream paused many times by a slow reader leaves no listeners behind. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { startServing } from '../helpers/serving.js';

test('a slow SSE topic reader does not pile up listeners on its response', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const serving = await startServing({ gateway: { batch: 50 } });
  try {
    const { log, server } = serving;
    await log.createTopic('big', { partitions: 1 });
    const pad = 'x'.repeat(4000);
    for (let i = 0; i < 20; i++) await log.append('big', Array.from({ length: 500 }, (_, n) => ({ key: `k${n}`, value: { n, pad } })));
    const req = http.get(`${server.url}/v1/sse/topics/big?from=earliest`);
    const res = await new Promise<http.IncomingMessage>((r) => req.on('response', r));
    let bytes = 0;
    res.on('data', (d: Buffer) => { bytes += d.length; });
    // A reader that reads in bursts: the stream pauses and drains again and again.
    for (let i = 0; i < 40 && bytes < 35e6; i++) {
      res.pause();
      await new Promise((r) => setTimeout(r, 30));
      res.resume();
      await new Promise((r) => setTimeout(r, 5));
    }
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(warnings.filter((w) => w.includes('MaxListeners')), []);
  } finally {
    process.off('warning', onWarning);
    await serving.stop();
  }
});
