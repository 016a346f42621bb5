/**
 * A subscription that joins the shared tail just before the tail's frame, with its connection full at
 * that frame, leaves at once — and goes on reading by itself, missing nothing.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log } from '../../src/log/log.js';
import { GatewayStats } from '../../src/serve/outlet.js';
import { TopicTails } from '../../src/serve/topic-tail.js';
import { gatewaySettings, serveConnection } from '../../src/serve/ws-gateway.js';
import { Authenticator } from '../../src/serve/auth/authenticator.js';
import { Heartbeats } from '../../src/serve/heartbeats.js';
import { tempDir } from '../helpers/tmp.js';
import type { Frame } from '../helpers/ws.js';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  frames: Frame[] = [];
  send(data: string | Buffer) { this.frames.push(JSON.parse(data.toString())); }
  ping() {}
  close() { this.readyState = 3; this.emit('close'); }
  terminate() { this.close(); }
  records() { return this.frames.filter((f) => f.type === 'records').flatMap((f) => (f.records as Frame[]).map((r) => r.offset as number)); }
}

test('a member that leaves on its first tail frame goes on reading by itself', async () => {
  const tmp = tempDir();
  const real = await EmbeddedLog.open({ dir: `${tmp.dir}/log` });
  await real.createTopic('t', { partitions: 1 });
  let held: (() => void) | undefined;
  let hold = false;
  let onStartOffsets: (() => void) | undefined;
  const log = new Proxy(real, {
    get(target, prop) {
      if (prop === 'read') return async (...args: Parameters<Log['read']>) => {
        const out = await target.read(...args);
        if (hold) { hold = false; await new Promise<void>((r) => { held = r; }); }
        return out;
      };
      if (prop === 'startOffsets') return (topic: string) => { const f = onStartOffsets; onStartOffsets = undefined; f?.(); return target.startOffsets(topic); };
      const v = (target as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as unknown as Log;
  const tails = new TopicTails(log, 500);
  const stats = new GatewayStats();
  const auth = new Authenticator({ anonymous: ['admin'] });
  const deps = { log, views: {} as never, rates: {} as never, engine: {} as never, stats, tails, heartbeats: new Heartbeats(60_000), auth };
  const a = new FakeSocket();
  const b = new FakeSocket();
  serveConnection(a as never, auth.authenticate(undefined), deps, gatewaySettings());
  serveConnection(b as never, auth.authenticate(undefined), deps, gatewaySettings({ maxBuffered: 1000 }));
  a.emit('message', Buffer.from(JSON.stringify({ type: 'subscribe', id: 'a', topic: 't', from: 'latest' })), false);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(tails.members(), 1, 'a follows the tail');

  // The tail wakes for record 0 and reads it; its read completes just as b joins, b's buffer full.
  hold = true;
  await real.append('t', [{ key: 'k', value: 0 }]);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(held, "the tail's read is in flight");
  onStartOffsets = () => { b.bufferedAmount = 10_000; held!(); };
  b.emit('message', Buffer.from(JSON.stringify({ type: 'subscribe', id: 'b', topic: 't', from: { offsets: [0] } })), false);
  await new Promise((r) => setTimeout(r, 50));
  b.bufferedAmount = 0; // b's buffer drains
  await real.append('t', [{ key: 'k', value: 1 }]);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(a.records(), [0, 1]);
  assert.deepEqual(b.records(), [0, 1], 'b gets the records after the position it joined at');
  a.close(); b.close();
  await real.close();
  tmp.remove();
});
