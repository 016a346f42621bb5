import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

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
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const key = crypto.randomBytes(32).toString('base64url');
  // 'wx': two processes starting at once must not each write a different key.
  try {
    fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8').trim();
    throw err;
  }
  return key;
}

/**
 * The token the CLI sends: `--token`, else `RIVULET_TOKEN`, else the admin key of the data directory
 * `rivulet start` uses by default (`./data`) when it has one.
 */
export function cliToken(option: string | undefined): string | undefined {
  if (option !== undefined) return option;
  if (process.env.RIVULET_TOKEN) return process.env.RIVULET_TOKEN;
  try {
    return fs.readFileSync(path.join('data', ADMIN_KEY_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
}
