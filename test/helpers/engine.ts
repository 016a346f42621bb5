import { Engine } from '../../src/engine/engine.js';
import type { PipelineDefinition } from '../../src/engine/pipeline.js';
import type { AppendRecord, LogRecord } from '../../src/core/record.js';
import { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { Log } from '../../src/log/log.js';
import { waitFor } from './tmp.js';

/** An engine on an embedded log in `dir`, running `pipelines`. */
export async function startEngine(dir: string, pipelines: PipelineDefinition[]): Promise<{ log: EmbeddedLog; engine: Engine; stop(): Promise<void> }> {
  const log = await EmbeddedLog.open({ dir: `${dir}/log` });
  const engine = new Engine({ log, dataDir: dir, onFailure: (name, err) => { throw new Error(`pipeline ${name} failed: ${err.message}`); } });
  for (const p of pipelines) await engine.add(p);
  engine.start();
  return { log, engine, async stop() { await engine.stop(); await log.close(); } };
}

/** Appends `records` and waits until the pipeline has processed (and flushed the outputs of) all its input. */
export async function feed(log: Log, engine: Engine, topic: string, records: AppendRecord[]): Promise<void> {
  if (records.length > 0) await log.append(topic, records);
  const total = log.endOffsets(topic).reduce((a, b) => a + b, 0);
  await waitFor(`the pipeline to process ${total} records of '${topic}'`, () => engine.status().every((s) => s.eventsIn >= total));
}

/** Every record of a topic, partition by partition. */
export async function readAll(log: Log, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  const ends = log.endOffsets(topic);
  for (let p = 0; p < ends.length; p++) out.push(...(await log.read(topic, p, 0, ends[p]!)));
  return out;
}
