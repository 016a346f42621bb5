import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { InvalidArgumentError, PipelineDefinitionError } from '../../src/core/errors.js';
import { count, sum } from '../../src/engine/aggregates.js';
import { EpochOutputs, OutputFenceError, publishSealed } from '../../src/engine/checkpoint/epoch-outputs.js';
import { Engine } from '../../src/engine/engine.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { DEAD_LETTER_TOPIC, deadLetter } from '../../src/engine/task.js';
import { tumbling } from '../../src/engine/windows.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { feed, readAll, startEngine } from '../helpers/engine.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

async function withLog(fn: (log: EmbeddedLog) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  const log = await EmbeddedLog.open({ dir: tmp.dir });
  try {
    await fn(log);
  } finally {
    await log.close();
    tmp.remove();
  }
}

const values = (records: { value: unknown }[]) => records.map((r) => r.value);

test('outputs cut short by a crash are completed on retry, each record once, on the partition it was placed on', async () => {
  await withLog(async (log) => {
    await log.createTopic('out', { partitions: 3 });
    await log.append('out', [{ key: 'old', value: 'before' }]);
    const epoch = new EpochOutputs(log);
    const records = Array.from({ length: 30 }, (_, i) => ({ key: i % 5 === 0 ? null : `k${i}`, value: i, timestamp: 1000 + i }));
    epoch.add('out', records);
    assert.equal(epoch.size, 30);
    const sealed = epoch.seal();
    assert.equal(epoch.size, 0);
    // The crash came after the first partition's batch was written and before the others.
    const first = sealed[0]!.partitions[0]!;
    await log.append('out', first.records.slice(0, first.records.length));
    assert.equal(await publishSealed(log, 'p', sealed, Date.now()), 30 - first.records.length);
    assert.equal(await publishSealed(log, 'p', sealed, Date.now()), 0, 'a second retry writes nothing');
    const stored = await readAll(log, 'out');
    assert.deepEqual(stored.filter((r) => r.value !== 'before').map((r) => r.value).sort((a, b) => (a as number) - (b as number)), records.map((r) => r.value));
    for (const part of sealed[0]!.partitions) {
      const inPartition = stored.filter((r) => r.partition === part.partition && r.value !== 'before');
      assert.deepEqual(values(inPartition), part.records.map((r) => r.value));
      assert.equal(inPartition[0]!.offset, part.base);
    }
    // Keyless records go round robin, keyed ones where the log puts their key.
    const direct = await log.append('out', [{ key: 'k1', value: 'probe' }]);
    assert.equal(stored.find((r) => r.value === 1)!.partition, direct[0]!.partition);
  });
});

test('a retry refuses to guess when something else wrote to or truncated an output partition', async () => {
  await withLog(async (log) => {
    await log.createTopic('out', { partitions: 1 });
    const epoch = new EpochOutputs(log);
    epoch.add('out', [{ key: 'a', value: 1 }, { key: 'b', value: 2 }]);
    const sealed = epoch.seal();
    await log.append('out', [{ key: 'x', value: 'x' }, { key: 'y', value: 'y' }, { key: 'z', value: 'z' }]);
    await assert.rejects(publishSealed(log, 'p', sealed, Date.now()), (err: unknown) => err instanceof OutputFenceError && err.code === 'output_fence'
      && /pipeline 'p' committed 2 records for partition 0 of 'out' at offset 0, but the partition ends at 3/.test(err.message));
  });
});

test('records the log would refuse fail before the commit; raw bytes survive the checkpoint; a recreated topic gets all records', async () => {
  await withLog(async (log) => {
    await log.createTopic('compacted', { partitions: 1, cleanupPolicy: 'compact' });
    const epoch = new EpochOutputs(log);
    assert.throws(() => epoch.add('compacted', [{ key: null, value: 1 }]), (e: unknown) => e instanceof InvalidArgumentError && e.code === 'key_required' && /'compacted'/.test(e.message));
    assert.throws(() => epoch.add('compacted', [{ key: 'k', value: () => 1 }]), /a record's value is a function/);
    await log.createTopic('raw', { partitions: 1 });
    epoch.add('raw', [{ key: 'k', value: new Uint8Array([1, 2, 255]) }]);
    const sealed = JSON.parse(JSON.stringify(epoch.seal())) as ReturnType<EpochOutputs['seal']>;
    const committedAt = Date.now();
    await publishSealed(log, 'p', sealed, committedAt);
    const [stored] = await readAll(log, 'raw');
    assert.ok(stored!.value instanceof Uint8Array);
    assert.deepEqual([...(stored!.value as Uint8Array)], [1, 2, 255]);
    // Deleted and created again after the commit (with a record of its own): the pipeline's records are all missing there.
    await log.deleteTopic('raw');
    await new Promise((r) => setTimeout(r, 5));
    await log.createTopic('raw', { partitions: 1 });
    await log.append('raw', [{ key: 'other', value: 'x' }]);
    assert.equal(await publishSealed(log, 'p', sealed, committedAt), 1);
  });
});

test('dead letters are repaired by what they refuse, among records others write to the same topic', async () => {
  await withLog(async (log) => {
    await log.createTopic(DEAD_LETTER_TOPIC, { partitions: 1 });
    const letters = [0, 1, 2, 3].map((offset) => deadLetter('in', 0, offset, { bad: offset }, 'invalid_event_time', 'no time', 'p', 500));
    const epoch = new EpochOutputs(log);
    epoch.add(DEAD_LETTER_TOPIC, letters, 'dead-letter');
    const sealed = epoch.seal();
    // Before the crash: letters 0 and 2 were written, between events refused at ingest and by another pipeline.
    await log.append(DEAD_LETTER_TOPIC, [deadLetter('in', null, null, {}, 'malformed_json', 'x'), letters[0]!, deadLetter('in', 0, 1, {}, 'c', 'e', 'other'), letters[2]!]);
    assert.equal(await publishSealed(log, 'p', sealed, Date.now()), 2);
    const stored = values(await readAll(log, DEAD_LETTER_TOPIC)) as { pipeline?: string; offset: number | null }[];
    assert.deepEqual(stored.filter((v) => v.pipeline === 'p').map((v) => v.offset).sort(), [0, 1, 2, 3]);
    assert.equal(stored.length, 6);
  });
});

test('read committed: a reader never sees an output record before the commit that produced it', async () => {
  const tmp = tempDir();
  const pipeline = definePipeline({
    name: 'rc',
    checkpointInterval: '50ms',
    setup(app) {
      app.stream<{ k: string; ts: number; v: number }>('in', { time: 'ts', outOfOrderness: 0, partitions: 2 })
        .map((e) => ({ ...e, v2: e.v * 2 }))
        .to('copy', { partitions: 2 });
    },
  });
  const { log, engine, stop } = await startEngine(tmp.dir, [pipeline]);
  try {
    const file = path.join(tmp.dir, 'checkpoints', 'rc.json');
    const committedOut = () => (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { recordsOut: number }).recordsOut : 0);
    let seenAhead = 0;
    const sizesSeen = new Set<number>();
    let done = false;
    const watcher = (async () => {
      while (!done) {
        const visible = log.endOffsets('copy').reduce((a, b) => a + b, 0);
        if (visible > committedOut()) seenAhead++;
        sizesSeen.add(visible);
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let batch = 0; batch < 40; batch++) {
      await log.append('in', Array.from({ length: 500 }, (_, i) => ({ value: { k: `k${i % 7}`, ts: batch * 500 + i, v: i } })));
      await new Promise((r) => setTimeout(r, 5));
    }
    await feed(log, engine, 'in', []);
    done = true;
    await watcher;
    assert.ok(sizesSeen.size > 5, `the watcher saw the output grow step by step (${[...sizesSeen].join(', ')})`);
    assert.equal(seenAhead, 0);
    assert.equal((await readAll(log, 'copy')).length, 20_000);
    assert.ok(engine.status()[0]!.epoch > 2, 'several epochs committed');
  } finally {
    await stop();
    tmp.remove();
  }
});

test('two stops at once commit once: the outputs are in the log exactly once', async () => {
  const tmp = tempDir();
  const pipeline = definePipeline({
    name: 'twice',
    checkpointInterval: '1h',
    setup(app) {
      app.stream<{ k: string; v: number }>('in', { partitions: 1 }).keyBy((e) => e.k).aggregate({ n: count() }).to('counts', { partitions: 1 });
    },
  });
  const { log, engine } = await startEngine(tmp.dir, [pipeline]);
  try {
    await log.append('in', Array.from({ length: 50 }, (_, i) => ({ value: { k: `k${i % 5}`, v: i } })));
    // Read, most likely not committed yet (that takes up to 100 ms): the stops find outputs waiting.
    await waitFor('the task to read the input', () => engine.status()[0]!.positions.in![0] === 50);
    await Promise.all([engine.stop(), engine.stop()]);
    const out = values(await readAll(log, 'counts')) as { key: string; n: number }[];
    const last = new Map(out.map((r) => [r.key, r.n]));
    assert.deepEqual([...last.values()], [10, 10, 10, 10, 10]);
    const cp = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'checkpoints', 'twice.json'), 'utf8')) as { recordsOut: number };
    assert.equal(cp.recordsOut, out.length);
  } finally {
    await log.close();
    tmp.remove();
  }
});

test('a topic has one writing pipeline; generators and HTTP ingest cannot write a pipeline output either', async () => {
  const tmp = tempDir();
  const log = await EmbeddedLog.open({ dir: tmp.dir });
  try {
    const writer = (name: string, topic: string) => definePipeline({ name, setup: (app) => app.stream<{ v: number }>(`${name}-in`).keyBy((e) => e.v).aggregate({ n: count() }).to(topic) });
    const engine = new Engine({ log, dataDir: tmp.dir });
    await engine.add(writer('a', 'totals'));
    assert.equal(engine.writerOf('totals'), 'a');
    assert.equal(engine.writerOf('a-in'), undefined);
    await assert.rejects(engine.add(writer('b', 'totals')), (err: unknown) => err instanceof PipelineDefinitionError && /pipelines 'a' and 'b' both write topic 'totals'/.test(err.message));
    await assert.rejects(engine.add(writer('c', DEAD_LETTER_TOPIC)), /writes '_deadletter', which Rivulet writes itself/);
    await assert.rejects(engine.add(definePipeline({ name: 'g', setup: (app) => app.generate('totals', { ratePerSecond: 1, next: (i) => ({ i }) }) })),
      /a generator of pipeline 'g' writes topic 'totals', which pipeline 'a' writes/);
  } finally {
    await log.close();
    tmp.remove();
  }
});

test('the watermark counts every source holding records from the first read: a second input written in advance is not late', async () => {
  const tmp = tempDir();
  const log = await EmbeddedLog.open({ dir: `${tmp.dir}/log` });
  await log.createTopic('a', { partitions: 2 });
  await log.createTopic('b', { partitions: 2 });
  const events = Array.from({ length: 6000 }, (_, i) => ({ key: `k${i % 50}`, value: { k: `k${i % 50}`, ts: i * 10 } }));
  await log.append('a', events);
  await log.append('b', events);
  await log.close();
  const pipeline = definePipeline({
    name: 'two',
    setup(app) {
      const a = app.stream<{ k: string; ts: number }>('a', { time: 'ts', outOfOrderness: 0 });
      const b = app.stream<{ k: string; ts: number }>('b', { time: 'ts', outOfOrderness: 0 });
      a.union(b).keyBy((e) => e.k).window(tumbling('10s')).aggregate({ n: count(), t: sum((e: { ts: number }) => e.ts) }).to('out', { partitions: 1 });
    },
  });
  const running = await startEngine(tmp.dir, [pipeline]);
  try {
    await feed(running.log, running.engine, 'a', []);
    await feed(running.log, running.engine, 'b', []);
    assert.equal(running.engine.status()[0]!.lateEvents, 0);
    const out = values(await readAll(running.log, 'out')) as { n: number }[];
    // Every window but the last (still open) holds both inputs: 20 + 20 events per key.
    assert.deepEqual([...new Set(out.map((r) => r.n))], [40]);
    assert.equal(out.length, 50 * 5);
  } finally {
    await running.stop();
    tmp.remove();
  }
});
