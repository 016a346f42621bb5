import { Engine } from '../../src/engine/engine.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/serve/server.js';
import { tempDir } from './tmp.js';

/** A server on loopback over an embedded log and an engine without pipelines, in a temporary directory. */
export interface Serving {
  log: EmbeddedLog;
  engine: Engine;
  server: RunningServer;
  /** `ws://…/v1/ws`. */
  wsUrl: string;
  stop(): Promise<void>;
}

/** Without `auth`, every caller is anonymous and may do anything. */
export async function startServing(options: Omit<Partial<ServerOptions>, 'log' | 'engine'> = {}, logOptions: { maintenanceIntervalMs?: number } = {}): Promise<Serving> {
  const tmp = tempDir();
  const log = await EmbeddedLog.open({ dir: `${tmp.dir}/log`, ...logOptions });
  const engine = new Engine({ log, dataDir: tmp.dir });
  engine.start();
  const server = await startServer({ host: '127.0.0.1', port: 0, auth: { anonymous: ['admin'] }, ...options, log, engine });
  return {
    log, engine, server,
    wsUrl: `${server.url.replace('http', 'ws')}/v1/ws`,
    async stop() {
      await server.close();
      await engine.stop();
      await log.close();
      tmp.remove();
    },
  };
}
