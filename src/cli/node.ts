import path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { startGenerator, type RunningGenerator } from '../connectors/generator.js';
import type { RunningSink, SinkConnector } from '../connectors/sink.js';
import { readSavepoint, restoreSavepoint, SavepointError } from '../engine/checkpoint/savepoint.js';
import { Engine } from '../engine/engine.js';
import { DEAD_LETTER_TOPIC } from '../engine/task.js';
import { extract } from '../engine/graph.js';
import { stateOptions, type PipelineDefinition } from '../engine/pipeline.js';
import type { Log } from '../log/log.js';
import { openLog, type LogBackendOptions } from '../log/open-log.js';
import type { CorsOptions } from '../serve/cors.js';
import type { AuthOptions } from '../serve/auth/auth-options.js';
import { ADMIN_KEY_FILE, adminKey } from './admin-key.js';
import { startServer, type RunningServer } from '../serve/server.js';

/** Options of {@link startRivulet}. */
export interface RivuletOptions {
  /** Where checkpoints, state and (for the embedded log) the log live. Default `./data`. */
  dataDir?: string;
  /** The log backend. Default: the embedded log in `<dataDir>/log`. */
  log?: LogBackendOptions;
  /** Default 7070; 0 picks a free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  pipelines?: PipelineDefinition[];
  /** Largest accepted HTTP request body in bytes. Default 1 MiB. */
  bodyLimit?: number;
  /**
   * Savepoint directories to start pipelines from (see `rivulet savepoint`): each replaces its pipeline's
   * checkpoint and state before the pipelines start.
   */
  fromSavepoints?: string[];
  /** Sinks that write topics to external systems (e.g. {@link postgresSink}). */
  sinks?: SinkConnector[];
  /** Web origins that may call the API from a browser (CORS); none by default. */
  cors?: CorsOptions;
  /**
   * Who may call the API (docs/api.md, "Access control"). Default: only holders of the data
   * directory's admin key (`<dataDir>/admin.key`, made at the first start; see `adminKeyFile`), and,
   * with `anonymous`, requests without credentials with those scopes.
   */
  auth?: AuthOptions;
  /** Scopes of requests without credentials when `auth` is not given, e.g. `['admin']` for a demo. */
  anonymous?: string[];
  /** Where to report pipeline failures. Default: stderr. */
  onPipelineFailure?: (pipeline: string, error: Error) => void;
}

/** A running Rivulet: the log, the pipelines, the generators and the server. */
export interface RunningRivulet {
  /** Base URL of the HTTP API and dashboard, e.g. `http://127.0.0.1:7070`. */
  url: string;
  port: number;
  log: Log;
  engine: Engine;
  server: RunningServer;
  /** The file holding the admin API key, when Rivulet was started without `auth`. */
  adminKeyFile?: string;
  /** The sinks, in the order they were given. */
  sinks: RunningSink[];
  /** Stops generators, the server and the pipelines (with a final checkpoint), then closes the log. */
  stop(): Promise<void>;
}

/**
 * Starts Rivulet in this process: what `rivulet start` does, for programs and tests.
 *
 * @example
 * ```ts
 * import { startRivulet } from 'rivulet';
 * import fraud from './fraud.js';
 * const rivulet = await startRivulet({ dataDir: './data', port: 7070, pipelines: [fraud] });
 * // … later
 * await rivulet.stop();
 * ```
 */
export async function startRivulet(options: RivuletOptions = {}): Promise<RunningRivulet> {
  const dataDir = path.resolve(options.dataDir ?? './data');
  const log = await openLog(options.log ?? { backend: 'embedded' }, dataDir);
  try {
    for (const dir of options.fromSavepoints ?? []) {
      const manifest = readSavepoint(dir);
      const def = (options.pipelines ?? []).find((p) => p.name === manifest.pipeline);
      if (!def) throw new SavepointError('unknown_pipeline', `savepoint ${dir} belongs to pipeline '${manifest.pipeline}', which is not among the pipelines to start`);
      const kind = stateOptions(def).kind;
      if (manifest.state === 'lmdb' && kind !== 'lmdb') {
        throw new SavepointError('state_mismatch', `savepoint ${dir} keeps its state in LMDB, but pipeline '${def.name}' now runs with state '${kind}': run it with state 'lmdb'`);
      }
      restoreSavepoint(dir, dataDir);
    }
  } catch (err) {
    await log.close();
    throw err;
  }
  const auth: AuthOptions = options.auth ?? {
    apiKeys: [{ id: 'admin', key: adminKey(dataDir), scopes: ['admin'] }],
    ...(options.anonymous ? { anonymous: options.anonymous } : {}),
  };
  const onFailure = options.onPipelineFailure ?? ((name, err) => console.error(`pipeline '${name}' failed:`, err));
  const engine = new Engine({ log, dataDir, onFailure });
  const generators: RunningGenerator[] = [];
  const sinks: RunningSink[] = [];
  let server: RunningServer | undefined;
  try {
    for (const p of options.pipelines ?? []) await engine.add(p);
    engine.start();
    const names = new Set<string>();
    for (const sink of options.sinks ?? []) {
      if (names.has(sink.name)) throw new InvalidArgumentError(`two sinks are named '${sink.name}'`);
      names.add(sink.name);
      await log.createTopic(sink.topic);
      await log.createTopic(DEAD_LETTER_TOPIC);
      sinks.push(sink.start(log, async (records) => { await log.append(DEAD_LETTER_TOPIC, records); }));
    }
    server = await startServer({ log, engine, host: options.host ?? '127.0.0.1', port: options.port ?? 7070, bodyLimit: options.bodyLimit, ...(options.cors ? { cors: options.cors } : {}), auth });
    for (const g of engine.generators()) {
      const key = g.options.key;
      generators.push(startGenerator({
        log,
        topic: g.topic,
        ratePerSecond: g.options.ratePerSecond,
        next: g.options.next,
        key: key === undefined ? undefined : (e) => {
          const k = extract(key, e as never);
          return k === undefined || k === null ? null : String(k);
        },
        onError: (err) => console.error(`generator for '${g.topic}' failed:`, err),
      }));
    }
  } catch (err) {
    await Promise.all(sinks.map((x) => x.stop()));
    await server?.close();
    await engine.stop();
    await log.close();
    throw err;
  }
  const running = server;
  return {
    url: running.url,
    port: running.port,
    log,
    engine,
    server: running,
    ...(options.auth ? {} : { adminKeyFile: path.join(dataDir, ADMIN_KEY_FILE) }),
    sinks,
    async stop() {
      await Promise.all(generators.map((g) => g.stop()));
      await running.close();
      await engine.stop();
      await Promise.all(sinks.map((x) => x.stop()));
      await log.close();
    },
  };
}
