import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { tempDir } from '../helpers/tmp.js';
import { logConformance } from './conformance.js';

logConformance('embedded', async () => {
  const tmp = tempDir();
  return {
    open: () => EmbeddedLog.open({ dir: tmp.dir, maintenanceIntervalMs: 0 }),
    maintenance: async (log) => {
      await (log as EmbeddedLog).runMaintenance();
    },
    capabilities: { compaction: true, retentionBySize: true, retentionByTime: true },
    cleanup: async () => tmp.remove(),
  };
});
