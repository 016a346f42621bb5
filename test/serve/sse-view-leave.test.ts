import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServing } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';

test('a view stream whose reader leaves stops listening to the view', async () => {
  const serving = await startServing();
  const { log, server } = serving;
  await log.createTopic('v', { partitions: 1 });
  server.views.add('v');
  await log.append('v', [{ key: 'a', value: 1 }]);
  await waitFor('view', () => server.views.get('v').size === 1);
  const listeners = () => (server.views.get('v') as unknown as { listeners: Set<unknown> }).listeners.size;
  const before = listeners();
  for (const q of ['', '?offsets=0', '?offsets=5']) {
    const ac = new AbortController();
    const res = await fetch(`${server.url}/v1/sse/views/v${q}`, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    assert.equal(listeners(), before + 1);
    ac.abort();
    await waitFor(`listener gone ${q}`, () => listeners() === before, 2000).catch(() => undefined);
    assert.equal(listeners(), before, `listener left behind for '${q}'`);
  }
  await serving.stop();
});
