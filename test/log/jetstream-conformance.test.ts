import { after, before } from 'node:test';
import { JetStreamLog } from '../../src/log/nats/jetstream-log.js';
import { startNatsServer } from '../helpers/servers.js';
import { logConformance } from './conformance.js';

let server: Awaited<ReturnType<typeof startNatsServer>>;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

let run = 0;
logConformance('nats-jetstream', async () => {
  // A namespace per test: every test starts on an empty log, on the same server.
  const namespace = `t${run++}`;
  return {
    open: () => JetStreamLog.open({ servers: server.url, namespace, maintenanceIntervalMs: 0 }),
    maintenance: async (log) => {
      await (log as JetStreamLog).runMaintenance();
    },
    capabilities: { compaction: true, retentionBySize: true, retentionByTime: true },
    cleanup: async () => {},
  };
});
