import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { EmbeddedLog, type EmbeddedLogOptions } from './embedded/embedded-log.js';
import type { Log } from './log.js';
import { JetStreamLog, type JetStreamLogOptions } from './nats/jetstream-log.js';
import { RedisStreamsLog, type RedisStreamsLogOptions } from './redis/redis-streams-log.js';

/**
 * Which log Rivulet runs on. The embedded log (the default) keeps everything in one process's data
 * directory; NATS JetStream and Redis Streams keep it on servers that several Rivulet processes share.
 * Pipelines do not change with the backend; docs/backends.md says what each one guarantees.
 *
 * @example
 * ```ts
 * await startRivulet({ log: { backend: 'nats', servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'], replicas: 3 } });
 * ```
 */
export type LogBackendOptions =
  | ({ backend: 'embedded' } & Partial<EmbeddedLogOptions>)
  | ({ backend: 'nats' } & JetStreamLogOptions)
  | ({ backend: 'redis' } & RedisStreamsLogOptions);

/** Opens the log `options` describe; the embedded log's directory defaults to `<dataDir>/log`. */
export async function openLog(options: LogBackendOptions, dataDir: string): Promise<Log> {
  switch (options.backend) {
    case 'embedded': {
      const { backend: _, ...rest } = options;
      return EmbeddedLog.open({ ...rest, dir: rest.dir ?? path.join(dataDir, 'log') });
    }
    case 'nats': {
      const { backend: _, ...rest } = options;
      return JetStreamLog.open(rest);
    }
    case 'redis': {
      const { backend: _, ...rest } = options;
      return RedisStreamsLog.open(rest);
    }
    default:
      throw new InvalidArgumentError(`log backend must be 'embedded', 'nats' or 'redis', got '${String((options as { backend?: unknown }).backend)}'`, 'invalid_config');
  }
}

/**
 * The log a URL names, as `rivulet start --log` and `RIVULET_LOG` take it: `embedded` (or nothing),
 * `nats://host:port[,host:port…]` (a namespace as `?namespace=…`, replicas as `?replicas=3`), or
 * `redis://[user:password@]host:port[/db]` (`?namespace=…`).
 */
export function logFromUrl(url: string | undefined): LogBackendOptions {
  if (url === undefined || url === '' || url === 'embedded') return { backend: 'embedded' };
  const scheme = /^([a-z]+):\/\//.exec(url)?.[1];
  const [base, query = ''] = url.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  const namespace = params.get('namespace') ?? undefined;
  if (scheme === 'nats' || scheme === 'tls') {
    const replicas = params.get('replicas');
    const servers = base.replace(/^[a-z]+:\/\//, '').split(',').map((s) => `${scheme}://${s}`);
    return { backend: 'nats', servers, namespace, ...(replicas === null ? {} : { replicas: Number(replicas) }) };
  }
  if (scheme === 'redis' || scheme === 'rediss') return { backend: 'redis', url: base, namespace };
  throw new InvalidArgumentError(`log URL must be 'embedded', nats://… or redis://…, got '${url}'`, 'invalid_config');
}

/** One line saying which log runs, for the start banner (no credentials). */
export function describeLog(options: LogBackendOptions): string {
  const ns = (o: { namespace?: string }) => `namespace ${o.namespace ?? 'rivulet'}`;
  switch (options.backend) {
    case 'embedded':
      return 'embedded';
    case 'nats': {
      const servers = [options.servers ?? []].flat().map((s) => s.replace(/\/\/[^@/]*@/, '//'));
      return `NATS JetStream ${servers.join(', ') || '(application connection)'}, ${ns(options)}, replicas ${options.replicas ?? 1}`;
    }
    case 'redis':
      return `Redis Streams ${options.url.replace(/\/\/[^@/]*@/, '//')}, ${ns(options)}`;
  }
}
