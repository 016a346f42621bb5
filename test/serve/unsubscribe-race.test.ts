import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { GatewayStats } from '../../src/serve/outlet.js';
import { TopicTails } from '../../src/serve/topic-tail.js';
import { gatewaySettings, serveConnection } from '../../src/serve/ws-gateway.js';
import { Authenticator } from '../../src/serve/auth/authenticator.js';
import { Heartbeats } from '../../src/serve/heartbeats.js';
import { tempDir } from '../helpers/tmp.js';
import type { Frame } from '../helpers/ws.js';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1; readyState = 1; bufferedAmount = 0; frames: Frame[] = [];
  send(d: string | Buffer) { this.frames.push(JSON.parse(d.toString())); }
  ping() {} close() { this.readyState = 3; this.emit('close'); } terminate() { this.close(); }
}

test("nothing follows 'unsubscribed' when subscribe and unsubscribe arrive together", async () => {
  const tmp = tempDir();
  const log = await EmbeddedLog.open({ dir: `${tmp.dir}/log` });
  await log.createTopic('t', { partitions: 1 });
  const s = new FakeSocket();
  const auth = new Authenticator({ anonymous: ['admin'] });
  serveConnection(s as never, auth.authenticate(undefined), { log, views: {} as never, rates: {} as never, engine: {} as never, stats: new GatewayStats(), tails: new TopicTails(log, 500), heartbeats: new Heartbeats(60_000), auth }, gatewaySettings());
  // ws emits the frames of one TCP read one after the other, synchronously.
  s.emit('message', Buffer.from(JSON.stringify({ type: 'subscribe', id: 'a', topic: 't' })), false);
  s.emit('message', Buffer.from(JSON.stringify({ type: 'unsubscribe', id: 'a' })), false);
  await new Promise((r) => setTimeout(r, 50));
  const types = s.frames.map((f) => f.type);
  s.close(); await log.close(); tmp.remove();
  assert.deepEqual(types, ['unsubscribed']);
});
