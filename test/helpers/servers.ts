/**
 * Real NATS and Redis servers of a test's own: each on a free loopback port with its data in a
 * temporary directory, killed when the test process exits whatever happens.
 */
import fs from 'node:fs';
import { after, before } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startServer, type ServerProcess } from '../../bench/lib/server.js';
import { JetStreamLog } from '../../src/log/nats/jetstream-log.js';
import { RedisStreamsLog } from '../../src/log/redis/redis-streams-log.js';
import { freePort } from './free-port.js';

function binary(path: string, pkg: string): string {
  if (!fs.existsSync(path)) throw new Error(`${path} is needed: run 'apt-get install -y ${pkg}' (npm test does it as root)`);
  return path;
}

/** `/usr/sbin/nats-server -js` with its store in the server's directory. */
export async function startNatsServer(): Promise<ServerProcess & { url: string }> {
  const server = await startServer({
    name: 'nats',
    command: binary('/usr/sbin/nats-server', 'nats-server'),
    args: (port, dir) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir],
  });
  return Object.assign(server, { url: `nats://127.0.0.1:${server.port}` });
}

/** `/usr/bin/redis-server` with the append-only file on (`appendfsync everysec`) and no snapshots. */
export async function startRedisServer(): Promise<ServerProcess & { url: string }> {
  const server = await startServer({
    name: 'redis',
    command: binary('/usr/bin/redis-server', 'redis-server'),
    args: (port, dir) => ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''],
  });
  return Object.assign(server, { url: `redis://127.0.0.1:${server.port}` });
}

/** A NATS cluster of `size` JetStream servers on loopback, routed to each other, ready for replicated streams. */
export interface NatsCluster {
  servers: (ServerProcess & { url: string })[];
  /** Every server's URL, comma-separated as `--log nats://…` takes them (without the scheme on all but the first). */
  url: string;
  stop(): Promise<void>;
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const servers = await Promise.all(clusterPorts.map(async (cport, i) => {
    const server = await startServer({
      name: `nats-${i}`,
      command: binary('/usr/sbin/nats-server', 'nats-server'),
      args: (port, dir) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, '-n', `n${i}`,
        '--cluster_name', 'rivulet-test', '--cluster', `nats://127.0.0.1:${cport}`, '--routes', routes],
    });
    return Object.assign(server, { url: `nats://127.0.0.1:${server.port}` });
  }));
  const cluster: NatsCluster = {
    servers,
    url: `nats://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`,
    stop: async () => {
      await Promise.allSettled(servers.map((s) => s.stop()));
    },
  };
  // JetStream answers once the servers have elected a meta leader.
  const nc = await connect({ servers: servers.map((s) => s.url) });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.getAccountInfo();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the NATS cluster did not elect a JetStream leader within 30 s: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  } finally {
    await nc.close();
  }
  return cluster;
}

/** A log backend that processes share: a server of the test's own, and a log opened on it. */
export interface SharedLogBackend {
  name: string;
  start(): Promise<ServerProcess & { url: string }>;
  /** Opens a log on `url` in `namespace` (each test its own); readers poll every 5 s, so a prompt wake-up comes from a notification. */
  open(url: string, namespace: string): Promise<JetStreamLog | RedisStreamsLog>;
}

export const SHARED_LOGS: SharedLogBackend[] = [
  { name: 'nats-jetstream', start: startNatsServer, open: (url, namespace) => JetStreamLog.open({ servers: url, namespace, maintenanceIntervalMs: 0, pollIntervalMs: 5000 }) },
  { name: 'redis-streams', start: startRedisServer, open: (url, namespace) => RedisStreamsLog.open({ url, namespace, maintenanceIntervalMs: 0, pollIntervalMs: 5000 }) },
];

/**
 * Starts the backend's server for the enclosing suite (its `before`/`after`) and returns a way to open
 * two logs on it — two processes — in a namespace of their own.
 */
export function twoProcesses(backend: SharedLogBackend): () => Promise<{ a: JetStreamLog | RedisStreamsLog; b: JetStreamLog | RedisStreamsLog; close(): Promise<void> }> {
  let server: ServerProcess & { url: string };
  let run = 0;
  before(async () => {
    server = await backend.start();
  });
  after(async () => {
    await server.stop();
  });
  return async () => {
    const namespace = `p${run++}`;
    const a = await backend.open(server.url, namespace);
    const b = await backend.open(server.url, namespace);
    return { a, b, close: async () => { await a.close(); await b.close(); } };
  };
}
