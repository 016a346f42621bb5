/** Closing a client (or its last subscription) while its WebSocket is still connecting, in Node with `ws`: no uncaught error. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createClient } from '../../src/client/mod.js';
import { startServing, type Serving } from '../helpers/serving.js';

let serving: Serving;
before(async () => { serving = await startServing(); await serving.log.createTopic('t', { partitions: 1 }); });
after(async () => { await serving.stop(); });

for (const how of ['client.close()', 'sub.close()'] as const) {
  test(`${how} while connecting does not throw an unhandled 'error'`, async () => {
    const crashes: unknown[] = [];
    const onCrash = (err: unknown) => crashes.push(err);
    process.prependListener('uncaughtException', onCrash);
    try {
      const client = createClient({ url: serving.server.url, WebSocket: WebSocket as never, token: 'anything' });
      const sub = client.subscribe('t', { onRecords: () => undefined });
      // The token is awaited, then the socket is made: it is CONNECTING now.
      await new Promise((r) => setImmediate(r));
      if (how === 'client.close()') client.close(); else sub.close();
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(crashes.map(String), []);
    } finally {
      process.off('uncaughtException', onCrash);
    }
  });
}
