/** An upgrade request whose target is not a parsable path is refused; the server keeps running. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { startServing, type Serving } from '../helpers/serving.js';

let serving: Serving;
before(async () => { serving = await startServing(); });
after(async () => { await serving.stop(); });

test("an upgrade of '//' is answered, and does not throw in the server's upgrade listener", async () => {
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.prependListener('uncaughtException', onCrash);
  try {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(serving.server.port, '127.0.0.1', () => {
        s.write('GET // HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      });
      let got = '';
      s.on('data', (d) => { got += d; });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => { s.destroy(); resolve(got); }, 1000);
    });
    assert.deepEqual(crashes.map(String), [], 'uncaught exceptions');
    assert.match(answer, /^HTTP\/1\.1 (400|404)/);
  } finally {
    process.off('uncaughtException', onCrash);
  }
});
