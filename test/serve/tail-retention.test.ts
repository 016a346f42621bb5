/**
 * The shared tail of a topic never skips records silently: when retention removed records it had not
 * read yet, its members leave it and read on by themselves, which sends each client a gap frame.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log } from '../../src/log/log.js';
import { TopicTail, type TailMember } from '../../src/serve/topic-tail.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

test('a tail behind retention drops its members instead of skipping records', async () => {
  const tmp = tempDir();
  const real = await EmbeddedLog.open({ dir: `${tmp.dir}/log`, maintenanceIntervalMs: 0 });
  try {
    await real.createTopic('short', { partitions: 1, segmentBytes: 2_000, retentionBytes: 4_000 });
    for (let i = 0; i < 20; i++) await real.append('short', Array.from({ length: 10 }, (_, j) => ({ key: null, value: { n: i * 10 + j, pad: 'x'.repeat(20) } })));
    // Reads wait while `hold` is set: retention runs between the tail's decision to read and its read.
    let release: (() => void) | undefined;
    let hold = true;
    const log = new Proxy(real, {
      get(target, prop) {
        if (prop === 'read') {
          return async (...args: Parameters<Log['read']>) => {
            if (hold) await new Promise<void>((r) => { release = r; });
            return target.read(...args);
          };
        }
        const v = (target as unknown as Record<string | symbol, unknown>)[prop];
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as unknown as Log;
    const tail = new TopicTail(log, 'short', 50);
    const firstOffsets: number[] = [];
    let dropped = 0;
    const member: TailMember = {
      prefix: Buffer.from('{"type":"records","id":"m"'),
      deliver(frame) {
        const body = JSON.parse(frame.toString()) as { records: { offset: number }[] };
        firstOffsets.push(body.records[0]!.offset);
        return true;
      },
      dropped() {
        dropped++;
      },
    };
    assert.ok(tail.join(member, [5]));
    await waitFor('the tail to start its read', () => release !== undefined);
    await real.runMaintenance();
    assert.ok(real.startOffsets('short')[0]! > 5, 'retention removed offset 5 and later ones');
    hold = false;
    release!();
    await waitFor('the member dropped', () => dropped === 1);
    assert.deepEqual(firstOffsets, [], 'no frame that skips the removed records');
    assert.equal(tail.size, 0);
  } finally {
    await real.close();
    tmp.remove();
  }
});
