import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnRivulet, type RivuletProcess } from '../helpers/rivulet-process.js';
import { startNatsServer, startRedisServer } from '../helpers/servers.js';
import { tempDir, waitFor } from '../helpers/tmp.js';
import { WsClient, type Frame } from '../helpers/ws.js';

/**
 * Gateways: several `rivulet start` processes on one shared log each serve their own clients. Events
 * ingested through either are seen through both, and a client whose gateway dies resumes on another
 * from its last positions with nothing missing and nothing twice.
 */

type Server = Awaited<ReturnType<typeof startNatsServer>>;
const backends: [string, () => Promise<Server>][] = [['NATS JetStream', startNatsServer], ['Redis Streams', startRedisServer]];

async function ingest(gateway: RivuletProcess, from: number, to: number): Promise<void> {
  const events = Array.from({ length: to - from }, (_, i) => ({ n: from + i, key: `k${(from + i) % 5}` }));
  const res = await fetch(`${gateway.url}/v1/topics/ticks/events?key=key`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
  assert.equal(res.status, 200, await res.text());
}

for (const [name, start] of backends) {
  describe(`gateways on ${name}`, () => {
    let server: Server;
    before(async () => {
      server = await start();
    });
    after(async () => {
      await server.stop();
    });

    test('a client whose gateway died resumes on another from its positions: every record once, in order per partition', { timeout: 120_000 }, async () => {
      const dirs = [tempDir(), tempDir()];
      const url = `${server.url}?namespace=gw`;
      const [a, b] = await Promise.all(dirs.map((d) => spawnRivulet(d.dir, ['--log', url])));
      try {
        const created = await fetch(`${a!.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ticks', partitions: 3 }) });
        assert.equal(created.status, 201);
        await ingest(a!, 0, 100);
        await ingest(b!, 100, 200); // the other gateway writes to the same topic

        const first = await WsClient.connect(`${a!.url.replace('http', 'ws')}/v1/ws`);
        first.send({ type: 'subscribe', id: 's', topic: 'ticks', from: 'earliest' });
        await waitFor('200 records from gateway A', () => first.records('s').length >= 200);
        const seenA = first.records('s');
        const last = [...first.frames].reverse().find((f) => f.type === 'records' && f.id === 's')!;
        const positions = last.positions as number[];
        await a!.stop('SIGKILL');

        await ingest(b!, 200, 300);
        const second = await WsClient.connect(`${b!.url.replace('http', 'ws')}/v1/ws`);
        second.send({ type: 'subscribe', id: 's', topic: 'ticks', from: { offsets: positions } });
        await waitFor('the rest from gateway B', () => seenA.length + second.records('s').length >= 300);
        await ingest(b!, 300, 310);
        await waitFor('live records from gateway B', () => seenA.length + second.records('s').length >= 310);
        await new Promise((r) => setTimeout(r, 300));
        const all: Frame[] = [...seenA, ...second.records('s')];
        assert.deepEqual(all.map((r) => (r.value as { n: number }).n).sort((x, y) => x - y), Array.from({ length: 310 }, (_, i) => i), 'every record once');
        for (let p = 0; p < 3; p++) {
          const offsets = all.filter((r) => r.partition === p).map((r) => r.offset as number);
          assert.deepEqual(offsets, offsets.map((_, i) => i), `partition ${p}: offsets 0, 1, 2, … in order`);
        }
        first.close();
        second.close();
      } finally {
        await Promise.all([a!.stop('SIGKILL'), b!.stop()]);
        for (const d of dirs) d.remove();
      }
    });
  });
}
