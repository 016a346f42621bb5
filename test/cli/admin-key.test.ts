/**
 * The admin key of a data directory: made once, readable by its owner only, refused when exposed or
 * damaged; the CLI sends it only to a Rivulet on this machine.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { adminKey, cliToken } from '../../src/cli/admin-key.js';
import { tempDir } from '../helpers/tmp.js';

test('made once with mode 600, then read back; exposed or damaged files are refused', () => {
  const tmp = tempDir();
  try {
    const dir = path.join(tmp.dir, 'data');
    const key = adminKey(dir);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    const file = path.join(dir, 'admin.key');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(adminKey(dir), key, 'the same key at every start');
    assert.deepEqual(fs.readdirSync(dir), ['admin.key'], 'no temporary file left behind');
    fs.chmodSync(file, 0o644);
    assert.throws(() => adminKey(dir), (e: Error & { code?: string }) => e.code === 'admin_key_exposed' && /chmod 600/.test(e.message));
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, '');
    assert.throws(() => adminKey(dir), (e: Error & { code?: string }) => e.code === 'admin_key_damaged' && /delete it/.test(e.message));
  } finally {
    tmp.remove();
  }
});

test('the CLI takes --token, then RIVULET_TOKEN, then ./data/admin.key for loopback URLs only', () => {
  const tmp = tempDir();
  const cwd = process.cwd();
  const env = process.env.RIVULET_TOKEN;
  try {
    const key = adminKey(path.join(tmp.dir, 'data'));
    process.chdir(tmp.dir);
    delete process.env.RIVULET_TOKEN;
    assert.equal(cliToken(undefined, 'http://127.0.0.1:7070'), key);
    assert.equal(cliToken(undefined, 'http://localhost:7070'), key);
    assert.equal(cliToken(undefined, 'http://rivulet.example.com:7070'), undefined, 'never sent to another machine');
    assert.equal(cliToken('given', 'http://127.0.0.1:7070'), 'given');
    process.env.RIVULET_TOKEN = 'from-env';
    assert.equal(cliToken(undefined, 'http://rivulet.example.com:7070'), 'from-env');
  } finally {
    process.chdir(cwd);
    if (env === undefined) delete process.env.RIVULET_TOKEN;
    else process.env.RIVULET_TOKEN = env;
    tmp.remove();
  }
});
