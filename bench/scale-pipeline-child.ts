/**
 * The pipeline of `npm run bench -- scale`, as a module that `rivulet worker` processes load. Each
 * run names it through `SCALE_RUN`, so that runs keep apart their checkpoints, exchange topics and outputs.
 */
import { count, definePipeline, sum, tumbling } from '../src/mod.js';

export interface Reading { sensor: string; ts: number; value: number }

export const PARTITIONS = 4;

export function scalePipeline(name: string) {
  return definePipeline({
    name,
    checkpointInterval: '200ms',
    setup(app) {
      app.stream<Reading>('readings', { time: 'ts', outOfOrderness: '1s', partitions: PARTITIONS })
        .keyBy((r) => r.sensor)
        .window(tumbling('10s'))
        .aggregate({ n: count(), total: sum((r: Reading) => r.value) })
        .to(`${name}-10s`, { partitions: PARTITIONS, view: false });
    },
  });
}

export default scalePipeline(process.env.SCALE_RUN ?? 'scale');
