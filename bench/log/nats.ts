import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { drive } from '../lib/load.js';
import { startServer, type ServerProcess } from '../lib/server.js';
import type { AppendCase, Budget, Throughput } from './workload.js';

/** A nats-server with JetStream of our own and a client to it. */
export interface NatsPeer {
  /** What the server does about fsync (nats-server 2.9 has no setting for it). */
  readonly fsync: string;
  /** Publishes `values` (cycled) to a new file-backed stream under case `c`: windows of `batch` un-awaited publishes, `concurrency` windows in flight. */
  append(c: AppendCase, values: readonly Uint8Array[], budget: Budget): Promise<Throughput>;
  stop(): Promise<void>;
}

/** Starts `/usr/sbin/nats-server -js` on a free loopback port with its store in a temp dir. */
export async function startNats(): Promise<NatsPeer> {
  const server: ServerProcess = await startServer({
    name: 'nats',
    command: '/usr/sbin/nats-server',
    args: (port, dir) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir],
  });
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    // Without async traces the client does not build an Error with a stack per request: ~1.5x the publishes/s.
    nc = await connect({ servers: `127.0.0.1:${server.port}`, noAsyncTraces: true });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  let streams = 0;
  return {
    fsync: 'file store, no per-message fsync (nats-server 2.9 syncs in the background)',
    async append(c, values, budget) {
      const name = `bench_${streams++}`;
      const subject = `${name}.events`;
      await jsm.streams.add({ name, subjects: [subject], storage: StorageType.File });
      try {
        let next = 0;
        const r = await drive(
          { concurrency: c.concurrency, seconds: budget.seconds, warmupSeconds: budget.warmupSeconds, maxOps: Math.ceil(budget.maxBytes / (c.batch * c.recordBytes)) },
          async () => {
            const pending: Promise<unknown>[] = new Array(c.batch);
            for (let i = 0; i < c.batch; i++) pending[i] = js.publish(subject, values[next++ % values.length]!);
            await Promise.all(pending);
          },
        );
        const records = r.ops * c.batch;
        return { records, bytes: records * c.recordBytes, seconds: r.seconds };
      } finally {
        await jsm.streams.delete(name);
      }
    },
    async stop() {
      try {
        await nc.close();
      } finally {
        await server.stop();
      }
    },
  };
}
