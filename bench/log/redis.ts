import { createClient } from 'redis';
import { drive } from '../lib/load.js';
import { startServer, type ServerProcess } from '../lib/server.js';
import type { AppendCase, Budget, Durability, Throughput } from './workload.js';

/** A redis-server of our own and a client to it, for one durability. */
export interface RedisPeer {
  /** How the server was told to sync its append-only file. */
  readonly fsync: string;
  /** XADDs `values` (cycled) to a new stream under case `c`: windows of `batch` pipelined XADDs (`multi().execAsPipeline()`, no MULTI/EXEC), `concurrency` windows in flight. */
  append(c: AppendCase, values: readonly Uint8Array[], budget: Budget): Promise<Throughput>;
  stop(): Promise<void>;
}

/**
 * Starts `/usr/bin/redis-server` on a free loopback port: AOF on, `appendfsync everysec` for
 * `'interval'` or `always`, no RDB snapshots, no AOF rewrite (its fork would compete for the two cores).
 */
export async function startRedis(durability: Durability): Promise<RedisPeer> {
  const appendfsync = durability === 'interval' ? 'everysec' : 'always';
  const server: ServerProcess = await startServer({
    name: 'redis',
    command: '/usr/bin/redis-server',
    args: (port, dir) => [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', appendfsync, '--save', '', '--auto-aof-rewrite-percentage', '0',
    ],
  });
  const client = createClient({ socket: { host: '127.0.0.1', port: server.port } });
  client.on('error', () => {}); // failures surface as rejected commands
  try {
    await client.connect();
  } catch (err) {
    await server.stop();
    throw err;
  }
  let streams = 0;
  return {
    fsync: `appendfsync ${appendfsync}`,
    async append(c, values, budget) {
      const key = `bench:${streams++}`;
      const buffers = values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      let next = 0;
      const r = await drive(
        { concurrency: c.concurrency, seconds: budget.seconds, warmupSeconds: budget.warmupSeconds, maxOps: Math.ceil(budget.maxBytes / (c.batch * c.recordBytes)) },
        async () => {
          if (c.batch === 1) {
            await client.xAdd(key, '*', { v: buffers[next++ % buffers.length]! });
            return;
          }
          // One write of the whole window: 3-4x the records/s of Promise.all over single xAdd calls.
          const pipeline = client.multi();
          for (let i = 0; i < c.batch; i++) pipeline.xAdd(key, '*', { v: buffers[next++ % buffers.length]! });
          await pipeline.execAsPipeline();
        },
      );
      await client.unlink(key);
      const records = r.ops * c.batch;
      return { records, bytes: records * c.recordBytes, seconds: r.seconds };
    },
    async stop() {
      try {
        await client.close();
      } finally {
        await server.stop();
      }
    },
  };
}
