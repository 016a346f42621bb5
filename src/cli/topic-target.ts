import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, LogLockedError } from '../core/errors.js';
import { EmbeddedLog } from '../log/embedded/embedded-log.js';
import { LogTopicAdmin, type TopicAdmin } from '../serve/topic-admin.js';
import { cliToken } from './admin-key.js';
import { HttpTopicAdmin } from './topics-client.js';

/** Where `rivulet topics` sends its requests when neither --url, --data nor RIVULET_URL says otherwise. */
export const DEFAULT_URL = 'http://127.0.0.1:7070';

/** The options of every `rivulet topics` command that say which Rivulet to administer. */
export interface TargetOptions {
  /** A running Rivulet's base URL. */
  url?: string;
  /** A stopped Rivulet's data directory (what `rivulet start --data` was given). */
  data?: string;
  /** The API key or JWT to send with `url` (see {@link cliToken}). */
  token?: string;
}

async function openOffline(dataDir: string): Promise<EmbeddedLog> {
  if (!fs.existsSync(dataDir)) throw new InvalidArgumentError(`--data: the data directory ${dataDir} does not exist`);
  try {
    // The layout startRivulet uses; no background retention or compaction during a short command.
    return await EmbeddedLog.open({ dir: path.join(dataDir, 'log'), maintenanceIntervalMs: 0 });
  } catch (err) {
    if (err instanceof LogLockedError) {
      throw new LogLockedError(err.dir, err.pid, `: a Rivulet is running on it, so administer it through that one with --url (default ${DEFAULT_URL})`);
    }
    throw err;
  }
}

/**
 * Runs `fn` on the {@link TopicAdmin} that `options` name: the embedded log of a stopped data directory
 * (`--data`, opened for the call and closed after it), or else the server at `--url`, `RIVULET_URL` or
 * {@link DEFAULT_URL}. A running server holds its data directory's lock, so `--data` is for offline use.
 */
export async function withTopicAdmin<T>(options: TargetOptions, fn: (admin: TopicAdmin) => Promise<T>): Promise<T> {
  if (options.data !== undefined && options.url !== undefined) throw new InvalidArgumentError('give either --url (a running Rivulet) or --data (a stopped one), not both');
  if (options.data === undefined) {
    const url = options.url ?? process.env.RIVULET_URL ?? DEFAULT_URL;
    return fn(new HttpTopicAdmin(url, cliToken(options.token, url)));
  }
  const log = await openOffline(options.data);
  try {
    return await fn(new LogTopicAdmin(log));
  } finally {
    await log.close();
  }
}
