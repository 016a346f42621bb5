/**
 * The storage below the log fails: the disk fills up, the data directory refuses writes. The appender
 * gets a clear error naming the file and the reason, nothing acknowledged is harmed, nothing of a
 * failed append is stored, and the log goes on once the disk has room or the permission is back.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StorageError } from '../../src/core/errors.js';
import type { LogRecord } from '../../src/core/record.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { tempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = process.getuid?.() === 0;

async function readAll(log: EmbeddedLog, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (;;) {
    const batch = await log.read(topic, 0, out.length, 1000);
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}

/** Mounts a tmpfs of `bytes` on `dir` (a real file system that really fills up); returns the unmount. */
function mountSmallDisk(dir: string, bytes: number): () => void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`the disk-full test mounts a ${bytes}-byte tmpfs and needs root for it (CI runs as root): ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`, { cause: err });
  }
  return () => execFileSync('umount', ['--lazy', dir]);
}

test('disk full: the append fails with ENOSPC naming the file; what was acknowledged stays; appends go on when there is room', async () => {
  const tmp = tempDir();
  const disk = path.join(tmp.dir, 'disk');
  fs.mkdirSync(disk);
  const unmount = mountSmallDisk(disk, 384 * 1024);
  let log: EmbeddedLog | undefined;
  try {
    const dir = path.join(disk, 'log');
    // Room to free later.
    fs.writeFileSync(path.join(disk, 'ballast'), Buffer.alloc(96 * 1024, 1));
    log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
    await log.createTopic('sensor', { partitions: 1, fsync: 'always', segmentBytes: 64 * 1024 });
    const value = (i: number) => ({ i, samples: Array.from({ length: 40 }, (_, k) => (i * 31 + k) % 997) });
    const acked: unknown[] = [];
    let failure: unknown;
    for (let i = 0; !failure && i < 10_000; i += 10) {
      try {
        const batch = Array.from({ length: 10 }, (_, k) => ({ value: value(i + k) }));
        const pos = await log.append('sensor', batch);
        assert.equal(pos[0]!.offset, acked.length, 'offsets follow the acknowledged records');
        acked.push(...batch.map((b) => b.value));
      } catch (err) {
        failure = err;
      }
    }
    assert.ok(failure instanceof StorageError, `the append fails with a StorageError, got ${String(failure)}`);
    assert.equal(failure.code, 'storage_error');
    assert.equal(failure.errno, 'ENOSPC');
    assert.match(failure.message, /disk is full \(ENOSPC\)/);
    assert.ok(failure.message.includes(path.join(dir, 'sensor', '0')), `the message names the file: ${failure.message}`);
    assert.ok(acked.length > 100, `records were acknowledged before the disk filled (${acked.length})`);

    // Still full: the next append fails the same way, the log is not wedged or damaged.
    await assert.rejects(log.append('sensor', Array.from({ length: 100 }, (_, k) => ({ value: value(-k) }))), (e) => e instanceof StorageError && e.errno === 'ENOSPC');
    await assert.rejects(log.createTopic('more', { partitions: 1 }), (e) => e instanceof StorageError && /more/.test(e.message));
    assert.deepEqual((await readAll(log, 'sensor')).map((r) => r.value), acked, 'what was acknowledged reads back unharmed');
    assert.equal(log.endOffsets('sensor')[0], acked.length, 'nothing of the failed appends is stored');

    fs.rmSync(path.join(disk, 'ballast'));
    const [next] = await log.append('sensor', [{ value: value(100_000) }]);
    assert.equal(next!.offset, acked.length, 'with room again the append goes on at the next offset');
    acked.push(value(100_000));
    await log.close();

    log = await EmbeddedLog.open({ dir, maintenanceIntervalMs: 0 });
    assert.deepEqual((await readAll(log, 'sensor')).map((r) => r.value), acked, 'after reopening: exactly the acknowledged records');
    assert.equal(log.stats().corruptReads, 0);
  } finally {
    await log?.close();
    unmount();
    tmp.remove();
  }
});

test('permission denied on the data directory: a clear error to the appender and at open; nothing written is harmed', () => {
  const tmp = tempDir();
  try {
    const dir = path.join(tmp.dir, 'log');
    fs.mkdirSync(dir);
    // Permissions do not bind root: run the scenario as an unprivileged user.
    const asUser = isRoot ? { uid: 65534, gid: 65534 } : {};
    if (isRoot) {
      fs.chmodSync(tmp.dir, 0o755);
      fs.chownSync(dir, 65534, 65534);
    }
    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'fixtures', 'storage-eacces.ts'), dir], {
      cwd: root, encoding: 'utf8', timeout: 60_000, ...asUser, env: { ...process.env, HOME: tmp.dir },
    });
    assert.equal(child.status, 0, `the scenario ran to its end:\n${child.stderr}`);
    const report = JSON.parse(child.stdout) as {
      appendFailures: { name: string; errno?: string; message: string }[];
      commitFailure: { name: string; errno?: string; message: string } | null;
      committedAfterFailure: (number | null)[];
      openFailure: { name: string; errno?: string; message: string } | null;
      acked: { offset: number; value: unknown }[];
      stored: { offset: number; value: unknown }[];
      committedAfterReopen: (number | null)[];
      recoveredTruncatedBytes: number;
    };
    assert.ok(report.appendFailures.length > 0, 'an append that needed a new segment file failed');
    for (const f of report.appendFailures) {
      assert.equal(f.name, 'StorageError');
      assert.equal(f.errno, 'EACCES');
      assert.match(f.message, /permission denied \(EACCES\)/);
      assert.ok(f.message.includes(path.join(dir, 'readings', '0')), `names the partition: ${f.message}`);
    }
    assert.equal(report.commitFailure?.name, 'StorageError');
    assert.equal(report.commitFailure?.errno, 'EACCES');
    assert.deepEqual(report.committedAfterFailure, [3], 'a failed commit leaves the previous offset in force');
    assert.equal(report.openFailure?.name, 'StorageError');
    assert.match(report.openFailure!.message, new RegExp(`locking the log directory ${dir} failed: permission denied \\(EACCES\\)`));
    assert.deepEqual(report.stored, report.acked, 'exactly the acknowledged records are stored, at their offsets');
    assert.deepEqual(report.stored.map((r) => r.offset), report.acked.map((_, k) => k));
    assert.deepEqual(report.committedAfterReopen, [3]);
    assert.equal(report.recoveredTruncatedBytes, 0);
  } finally {
    tmp.remove();
  }
});
