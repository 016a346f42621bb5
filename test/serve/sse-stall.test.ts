/** An SSE topic stream whose reader stalls ends when the server closes. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { startServing } from '../helpers/serving.js';

test('server close ends an SSE topic stream whose reader stopped reading', async () => {
  const serving = await startServing({ gateway: { batch: 500 } });
  const { log, server } = serving;
  await log.createTopic('big', { partitions: 1 });
  const pad = 'x'.repeat(2000);
  for (let i = 0; i < 10; i++) await log.append('big', Array.from({ length: 500 }, (_, n) => ({ key: `k${n}`, value: { n, pad } })));
  // A reader that never reads the body: the server's writes fill the socket buffers.
  const req = http.get(`${server.url}/v1/sse/topics/big?from=earliest`);
  const res = await new Promise<http.IncomingMessage>((r) => req.on('response', r));
  res.pause();
  await new Promise((r) => setTimeout(r, 500));
  const closed = serving.stop().then(() => 'closed');
  const outcome = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open after 3 s'), 3000))]);
  req.destroy();
  await closed;
  assert.equal(outcome, 'closed');
});
