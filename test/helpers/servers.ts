/**
 * Real NATS and Redis servers of a test's own: each on a free loopback port with its data in a
 * temporary directory, killed when the test process exits whatever happens.
 */
import fs from 'node:fs';
import { startServer, type ServerProcess } from '../../bench/lib/server.js';

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
