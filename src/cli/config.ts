import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { RivuletError } from '../core/errors.js';
import type { SinkConnector } from '../connectors/sink.js';
import type { PipelineDefinition } from '../engine/pipeline.js';
import type { CorsOptions } from '../serve/cors.js';
import type { AuthOptions } from '../serve/auth/auth-options.js';
import type { LogBackendOptions } from '../log/open-log.js';

/** The contents of `rivulet.config.ts`. Every field is optional; command-line flags win over it. */
export interface RivuletConfig {
  /** The pipelines to run. */
  pipelines?: PipelineDefinition[];
  /** Data directory, relative to the config file. Default `./data`. */
  dataDir?: string;
  /** The log backend, e.g. `{ backend: 'nats', servers: ['nats://10.0.0.1:4222'], replicas: 3 }`. Default: embedded. */
  log?: LogBackendOptions;
  /** HTTP port. Default 7070. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Sinks that write topics to external systems, e.g. `postgresSink({ … })`. */
  sinks?: SinkConnector[];
  /** Web origins that may call the API from a browser, e.g. `{ origins: ['https://app.example.com'] }`. */
  cors?: CorsOptions;
  /**
   * Who may call the API: API keys, JWT issuers, anonymous scopes (docs/api.md, "Access control").
   * Without it, only holders of the data directory's admin key (`<dataDir>/admin.key`).
   */
  auth?: AuthOptions;
}

/**
 * Types a `rivulet.config.ts`, which `rivulet start` loads from the working directory.
 *
 * @example
 * ```ts
 * // rivulet.config.ts
 * import { defineConfig } from 'rivulet';
 * import fraud from './pipelines/fraud.js';
 * export default defineConfig({ pipelines: [fraud], port: 8080 });
 * ```
 */
export function defineConfig(config: RivuletConfig): RivuletConfig {
  return config;
}

const ConfigSchema = z.object({
  pipelines: z.array(z.object({ name: z.string(), setup: z.function() }).loose()).optional(),
  dataDir: z.string().optional(),
  log: z.discriminatedUnion('backend', [
    z.object({ backend: z.literal('embedded') }).loose(),
    z.object({ backend: z.literal('nats'), servers: z.union([z.string(), z.array(z.string()).min(1)]).optional() }).loose(),
    z.object({ backend: z.literal('redis'), url: z.string() }).loose(),
  ]).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().optional(),
  sinks: z.array(z.object({ name: z.string(), topic: z.string(), start: z.function() }).loose()).optional(),
  // Checked field by field when the server starts, with the path of what is wrong.
  auth: z.object({}).loose().optional(),
  cors: z.object({ origins: z.union([z.literal('*'), z.array(z.url())]), maxAgeSeconds: z.number().int().nonnegative().optional() }).strict().optional(),
}).strict();

const PipelineSchema = z.object({ name: z.string().min(1), setup: z.function() }).loose();

/** Imports a JavaScript or TypeScript module (TypeScript through tsx). */
async function importModule(file: string): Promise<Record<string, unknown>> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new RivuletError('module_not_found', `cannot load ${file}: no such file`);
  const url = pathToFileURL(abs).href;
  try {
    if (/\.[cm]?tsx?$/.test(abs)) {
      const { tsImport } = await import('tsx/esm/api');
      return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    }
    return (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    throw new RivuletError('module_load_failed', `cannot load ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** Loads the pipelines of a module: its default export, a pipeline definition or an array of them. */
export async function loadPipelines(file: string): Promise<PipelineDefinition[]> {
  const mod = await importModule(file);
  const exported = mod.default;
  const list = Array.isArray(exported) ? exported : [exported];
  return list.map((p, i) => {
    const r = PipelineSchema.safeParse(p);
    if (!r.success) {
      throw new RivuletError('invalid_pipeline', `${file}: default export${Array.isArray(exported) ? ` [${i}]` : ''} is not a pipeline; export definePipeline({ name, setup(app) { … } }) or an array of them`);
    }
    return p as PipelineDefinition;
  });
}

/** Loads and checks a `rivulet.config.ts` (or `.js`). */
export async function loadConfig(file: string): Promise<RivuletConfig & { dir: string }> {
  const mod = await importModule(file);
  const r = ConfigSchema.safeParse(mod.default);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RivuletError('invalid_config', `${file}: '${issue.path.join('.') || 'default export'}' ${issue.message}`);
  }
  return { ...(mod.default as RivuletConfig), dir: path.dirname(path.resolve(file)) };
}
