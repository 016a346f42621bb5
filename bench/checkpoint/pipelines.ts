import { count, definePipeline, session, sum, tumbling, valueState, type PipelineDefinition } from '../../src/mod.js';

/** An event of the checkpoint benchmarks. */
export interface BenchEvent { k: string; ts: number; v: number }

/**
 * The throughput benchmark's pipeline: 10-minute windows per key and a count per key in `process`
 * state that emits every 1000th event of a key (with LMDB, both on disk).
 */
export function benchPipeline(options: { backend: 'memory' | 'lmdb'; interval: string }): PipelineDefinition {
  return definePipeline({
    name: 'checkpoint-bench',
    checkpointInterval: options.interval as `${number}s`,
    state: options.backend,
    setup(app) {
      const events = app.stream<BenchEvent>('bench-in', { time: 'ts', outOfOrderness: '1s' });
      events.keyBy((e) => e.k).window(tumbling('10m')).aggregate({ n: count(), total: sum((e: BenchEvent) => e.v) }).to('bench-windows', { view: false });
      events.keyBy((e) => e.k)
        .process({
          state: { n: valueState<number>() },
          onEvent(e, ctx) {
            const n = (ctx.state.n.get() ?? 0) + 1;
            ctx.state.n.set(n);
            if (n % 1000 === 0) ctx.emit({ k: e.k, n });
          },
        })
        .to('bench-milestones', { view: false });
    },
  });
}

/**
 * The state benchmarks' pipeline: `process` state per key on LMDB. With `payload`, each key keeps its
 * event's payload (state of a given size); it emits a key the second time it sees it.
 */
export function statePipeline(): PipelineDefinition {
  return definePipeline({
    name: 'state-bench',
    state: 'lmdb',
    setup(app) {
      app.stream<{ k: string; payload?: string }>('state-in')
        .keyBy((e) => e.k)
        .process({
          state: { seen: valueState<string | number>() },
          onEvent(e, ctx) {
            if (ctx.state.seen.get() !== undefined) ctx.emit({ k: e.k });
            ctx.state.seen.set(e.payload ?? 1);
          },
        })
        .to('state-repeats', { view: false });
    },
  });
}

/**
 * The session benchmark's pipeline: a session window (gap 1 h) per key on LMDB, counting each
 * session's events — each key's sessions a row and each open session a timer, on disk.
 */
export function sessionPipeline(): PipelineDefinition {
  return definePipeline({
    name: 'session-bench',
    state: 'lmdb',
    setup(app) {
      app.stream<{ k: string; ts: number }>('session-in', { time: 'ts', outOfOrderness: '1s' })
        .keyBy((e) => e.k)
        .window(session((process.env.SESSION_GAP ?? '1h') as '1h'))
        .aggregate({ n: count() })
        .to('session-out', { view: false });
    },
  });
}
