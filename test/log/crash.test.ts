import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LogRecord } from '../../src/core/record.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { CRASH_PARTITIONS, CRASH_TOPIC, prng, recordFor, seqOf } from '../helpers/crash-records.js';
import { tempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = path.join(root, 'test', 'fixtures', 'crash-appender.ts');
const ROUNDS = 24;

interface Ack {
  partition: number;
  offset: number;
}

interface ChildRun {
  acks: Map<number, Ack>;
  pid: number;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/**
 * Runs one appender child and SIGKILLs it after `killAfterAcks` acknowledged records, or `killAfterMs`
 * after it was spawned (possibly while it is still starting or recovering the log).
 */
function runChild(dir: string, firstSeq: number, seed: number, kill: { acks: number } | { ms: number }): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(firstSeq), String(seed)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const acks = new Map<number, Ack>();
  let pending = '';
  let stderr = '';
  let killed = false;
  const killNow = () => {
    if (!killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  let timer: NodeJS.Timeout | undefined;
  if ('ms' in kill) timer = setTimeout(killNow, kill.ms);
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!; // an incomplete last line is not an acknowledgement (yet)
    for (const line of lines) {
      const [seq, partition, offset] = line.split(' ').map(Number) as [number, number, number];
      assert.ok(Number.isInteger(seq) && Number.isInteger(partition) && Number.isInteger(offset), `bad ack line from the child: ${JSON.stringify(line)}`);
      assert.ok(!acks.has(seq), `seq ${seq} acknowledged twice`);
      acks.set(seq, { partition, offset });
    }
    if ('acks' in kill && acks.size >= kill.acks) killNow();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    // 'close' comes after the exit and after stdout ended: every line the child wrote has been seen.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ acks, pid: child.pid!, signal, code, stderr });
    });
  });
}

async function readPartition(log: EmbeddedLog, p: number): Promise<LogRecord[]> {
  const all: LogRecord[] = [];
  for (;;) {
    const batch = await log.read(CRASH_TOPIC, p, all.length, 500);
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

test('a writer killed with SIGKILL at random moments loses no acknowledged record and leaves no garbage', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`crash test seed ${seed} (reproduce with CRASH_SEED=${seed})`);
  const rand = prng(seed);
  const tmp = tempDir('rivulet-crash-');
  const dir = path.join(tmp.dir, 'log');
  const lockPath = path.join(dir, '.lock');
  const acked = new Map<number, Ack>();
  /** Every record found at the previous recovery, per partition (seq by offset): it must all stay. */
  let before: number[][] = Array.from({ length: CRASH_PARTITIONS }, () => []);
  let nextSeq = 0;
  let staleLocksTakenOver = 0;
  let unacknowledgedSeen = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const kill = rand() < 0.15 ? { ms: Math.floor(rand() * 600) } : { acks: 1 + Math.floor(rand() * 150) };
      const what = `seed ${seed}, round ${round} (kill after ${JSON.stringify(kill)}, first seq ${nextSeq})`;
      const run = await runChild(dir, nextSeq, Math.floor(rand() * 2 ** 31), kill);
      assert.equal(run.signal, 'SIGKILL', `${what}: the child ended by itself with code ${run.code}:\n${run.stderr}`);
      for (const [seq, a] of run.acks) acked.set(seq, a);
      if (run.acks.size > 0) {
        // The killed child held the directory: its lock file is left behind and must be taken over.
        assert.equal(fs.readFileSync(lockPath, 'utf8'), String(run.pid), `${what}: the lock file should name the killed child`);
        staleLocksTakenOver++;
      }

      const log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
      try {
        if (!log.describeTopic(CRASH_TOPIC)) {
          assert.equal(acked.size, 0, `${what}: the topic is gone after records were acknowledged`);
          continue;
        }
        assert.equal(fs.readFileSync(lockPath, 'utf8'), String(process.pid), `${what}: the recovering process holds the lock`);
        const seen = new Set<number>();
        const now: number[][] = [];
        for (let p = 0; p < CRASH_PARTITIONS; p++) {
          const records = await readPartition(log, p);
          assert.equal(records.length, log.endOffsets(CRASH_TOPIC)[p], `${what}: partition ${p} reads fewer records than its end offset`);
          const seqs: number[] = [];
          records.forEach((r, i) => {
            assert.equal(r.offset, i, `${what}: partition ${p} offsets are not contiguous`);
            assert.equal(r.partition, p);
            const seq = seqOf(r);
            assert.ok(Number.isInteger(seq) && seq >= 0 && seq < nextSeq + 60_000, `${what}: partition ${p} offset ${i} holds an unknown seq ${seq}`);
            assert.ok(!seen.has(seq), `${what}: seq ${seq} is stored twice`);
            seen.add(seq);
            const expected = recordFor(seq);
            assert.equal(r.key, expected.key, `${what}: key of seq ${seq} at ${p}/${i}`);
            assert.equal(r.timestamp, expected.timestamp, `${what}: timestamp of seq ${seq} at ${p}/${i}`);
            if (expected.value instanceof Uint8Array) {
              assert.ok(r.value instanceof Uint8Array, `${what}: seq ${seq} at ${p}/${i} should be raw bytes`);
              assert.ok(Buffer.from(r.value).equals(expected.value), `${what}: bytes of seq ${seq} at ${p}/${i} differ`);
            } else {
              assert.deepEqual(r.value, expected.value, `${what}: value of seq ${seq} at ${p}/${i}`);
            }
            if (seqs.length > 0) assert.ok(seq > seqs.at(-1)!, `${what}: partition ${p} has seq ${seq} after ${seqs.at(-1)} (written out of order)`);
            seqs.push(seq);
            if (!acked.has(seq)) unacknowledgedSeen++;
          });
          // What an earlier recovery found is still there, unchanged.
          assert.deepEqual(seqs.slice(0, before[p]!.length), before[p], `${what}: partition ${p} lost records found by the previous recovery`);
          now.push(seqs);
        }
        for (const [seq, a] of acked) {
          assert.equal(now[a.partition]![a.offset], seq, `${what}: acknowledged seq ${seq} should be at partition ${a.partition} offset ${a.offset}`);
        }
        assert.equal(log.stats().corruptReads, 0, `${what}: corrupt reads`);
        before = now;
        // The next child goes on after everything stored (acknowledged or not), so seqs stay unique.
        nextSeq = Math.max(nextSeq, ...seen) + 1;
      } finally {
        await log.close();
      }
    }
    const stats = await (async () => {
      const log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
      try {
        return log.stats();
      } finally {
        await log.close();
      }
    })();
    console.log(`crash test: ${acked.size} acknowledged records, ${unacknowledgedSeen} unacknowledged ones found stored, ${stats.topics[0]?.segments} segments, ${staleLocksTakenOver} stale locks taken over`);
    // The test is only worth something when it did what it claims: many records, segments rolled, locks taken over.
    assert.ok(acked.size >= 500, `only ${acked.size} records were acknowledged`);
    assert.ok((stats.topics[0]?.segments ?? 0) > 2 * CRASH_PARTITIONS, 'segments should have rolled during the test');
    assert.ok(staleLocksTakenOver >= ROUNDS / 2, `only ${staleLocksTakenOver} stale locks were taken over`);
  } finally {
    tmp.remove();
  }
});
