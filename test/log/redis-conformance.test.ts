import { after, before } from 'node:test';
import { RedisStreamsLog } from '../../src/log/redis/redis-streams-log.js';
import { startRedisServer } from '../helpers/servers.js';
import { logConformance } from './conformance.js';

let server: Awaited<ReturnType<typeof startRedisServer>>;
before(async () => {
  server = await startRedisServer();
});
after(async () => {
  await server.stop();
});

let run = 0;
logConformance('redis-streams', async () => {
  // A namespace per test: every test starts on an empty log, on the same server.
  const namespace = `t${run++}`;
  return {
    open: () => RedisStreamsLog.open({ url: server.url, namespace, maintenanceIntervalMs: 0 }),
    maintenance: async (log) => {
      await (log as RedisStreamsLog).runMaintenance();
    },
    capabilities: { compaction: false, retentionBySize: false, retentionByTime: true },
    cleanup: async () => {},
  };
});
