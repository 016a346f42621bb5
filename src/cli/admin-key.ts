import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';

/** The file, in a data directory, holding the admin API key of a Rivulet started without `auth`. */
export const ADMIN_KEY_FILE = 'admin.key';

/**
 * The admin API key of a data directory: read from `<dataDir>/admin.key`, or made (32 random bytes)
 * and written there, readable by its owner only, on the first start. A Rivulet given no `auth` takes
 * this key, so that it is never open to whoever reaches its port, while the CLI on the same machine
 * finds the key by itself.
 */
export function adminKey(dataDir: string): string {
  const file = path.join(dataDir, ADMIN_KEY_FILE);
  const existing = readKey(file);
  if (existing !== undefined) return existing;
  fs.mkdirSync(dataDir, { recursive: true });
  // Written whole to a temporary file, then linked into place: a crash never leaves a partial key,
  // and a key that is there is never replaced.
  const tmp = `${file}.${process.pid}.tmp`;
  const key = crypto.randomBytes(32).toString('base64url');
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, `${key}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.unlinkSync(tmp);
  }
  return readKey(file)!;
}

/** The key in `file`, or undefined when there is none; refuses a file others may read. */
function readKey(file: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new InvalidArgumentError(`the admin key ${file} can be read by other users (mode ${(stat.mode & 0o777).toString(8)}): run 'chmod 600 ${file}', or delete it to make a new key`, 'admin_key_exposed');
  }
  const key = fs.readFileSync(file, 'utf8').trim();
  if (key.length < 16) throw new InvalidArgumentError(`the admin key ${file} is damaged (${key.length} characters): delete it to make a new key`, 'admin_key_damaged');
  return key;
}

/**
 * The token the CLI sends to `url`: `--token`, else `RIVULET_TOKEN`, else — for a Rivulet on this
 * machine only (a loopback address), so that the key never travels — the admin key of the data
 * directory `rivulet start` uses by default (`./data`) when it has one.
 */
export function cliToken(option: string | undefined, url: string): string | undefined {
  if (option !== undefined) return option;
  if (process.env.RIVULET_TOKEN) return process.env.RIVULET_TOKEN;
  if (!isLoopback(url)) return undefined;
  try {
    return fs.readFileSync(path.join('data', ADMIN_KEY_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
  } catch {
    return false;
  }
}
