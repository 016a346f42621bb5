import { compileFunction } from './codegen.js';
import { pushTarget, type Element, type Operator, type Outputs, type PushInput } from './operators/operator.js';
import { FilterOperator, KeyByOperator, MapOperator } from './operators/stateless.js';

/** A one-to-one step that runs as events are read: keep or drop, replace the value, or set the key. */
type Step =
  | { kind: 'filter'; fn: (v: unknown) => boolean }
  | { kind: 'map'; fn: (v: unknown) => unknown }
  | { kind: 'keyBy'; fn: (v: unknown) => unknown };

interface Edge {
  /** The steps in order, and whether any of them changes the event (then the edge builds its own element). */
  steps: Step[];
  changes: boolean;
  /** Where the edge goes past its steps. */
  out: Outputs;
  batch: Element[];
  /** The one operator past the steps when it takes events one at a time: no element, no batch. */
  target: { op: Operator & PushInput; input: number } | undefined;
  /** Events were pushed to `target` since the last flush. */
  pushed: boolean;
}

/**
 * The edges out of a source, each with the one-to-one operators that come first on it — filters,
 * maps and keyBys — applied as events are read (Flink chains operators the same way): an event a
 * filter drops never becomes an element, and an event that passes becomes one element, not one per
 * operator. Edges that only filter share one element per event (operators never change an element);
 * an edge that ends in one operator that takes events one at a time ({@link PushInput}: windows,
 * `process`, sinks) builds no element at all.
 * For streams that keep a small part of their source — one kind of event of several — and for keyed
 * pipelines, this halves the work per event.
 */
export class SourceEdges {
  private readonly edges: Edge[];

  constructor(outputs: Outputs) {
    this.edges = outputs.map((edge) => {
      let out: Outputs = [edge];
      const steps: Step[] = [];
      for (;;) {
        if (out.length !== 1) break;
        const op = out[0]!.op;
        if (op instanceof FilterOperator) steps.push({ kind: 'filter', fn: op.predicate });
        else if (op instanceof MapOperator) steps.push({ kind: 'map', fn: op.fn });
        else if (op instanceof KeyByOperator) steps.push({ kind: 'keyBy', fn: op.fn });
        else break;
        out = (op as FilterOperator | MapOperator | KeyByOperator).outputs;
      }
      return { steps, changes: steps.some((s) => s.kind !== 'filter'), out, batch: [], target: pushTarget(out), pushed: false };
    });
    this.offer = compileOffer(this.edges);
  }

  /**
   * Adds an event read under watermark `wm` to the batch of every edge whose filters keep it. Built
   * for this source's edges (see {@link compileOffer}).
   */
  readonly offer: (value: unknown, ts: number, wm: number) => void;

  /** Hands each edge's batch to the operators past its chained steps. */
  flush(): void {
    for (const edge of this.edges) {
      if (edge.target !== undefined) {
        if (edge.pushed) {
          edge.pushed = false;
          edge.target.op.endBatch();
        }
        continue;
      }
      if (edge.batch.length === 0) continue;
      const batch = edge.batch;
      edge.batch = [];
      for (const o of edge.out) o.op.process(batch, o.input);
    }
  }

  /** Sends the watermark along every edge (past the chained steps, which only pass it on). */
  watermark(wm: number): void {
    for (const edge of this.edges) for (const o of edge.out) o.op.watermark(wm, o.input);
  }
}

/**
 * The function that offers one event to every edge, written out for these edges and compiled (see
 * `codegen.ts`): each user function is called from a call site of its own.
 */
function compileOffer(edges: readonly Edge[]): (value: unknown, ts: number, wm: number) => void {
  const bindings: Record<string, unknown> = {};
  let n = 0;
  const bind = (x: unknown) => {
    const name = `b${n++}`;
    bindings[name] = x;
    return name;
  };
  let body = 'let shared;\n';
  edges.forEach((edge, i) => {
    const e = bind(edge);
    const push = (value: string, key: string) => (edge.target === undefined
      ? `${e}.batch.push({ value: ${value}, ts, key: ${key}, wm });`
      : `${e}.pushed = true; ${bind(edge.target.op)}.push(${value}, ts, ${key}, wm, ${edge.target.input});`);
    if (!edge.changes) {
      const tests = edge.steps.map((s) => `${bind(s.fn)}(value)`);
      const code = edge.target === undefined ? `${e}.batch.push(shared ??= { value, ts, key: undefined, wm });` : push('value', 'undefined');
      body += tests.length === 0 ? `${code}\n` : `if (${tests.join(' && ')}) { ${code} }\n`;
      return;
    }
    let code = push(`v${i}`, `k${i}`);
    // Built from the last step back, so that each filter guards what follows it.
    for (let j = edge.steps.length - 1; j >= 0; j--) {
      const s = edge.steps[j]!;
      const f = bind(s.fn);
      if (s.kind === 'filter') code = `if (${f}(v${i})) { ${code} }`;
      else if (s.kind === 'map') code = `v${i} = ${f}(v${i}); ${code}`;
      else code = `k${i} = ${f}(v${i}); ${code}`;
    }
    body += `{ let v${i} = value, k${i}; ${code} }\n`;
  });
  return compileFunction(bindings, `function offer(value, ts, wm) {\n${body}}`, () => offerLoop(edges));
}

/** What {@link compileOffer} compiles, as a loop over the edges and their steps (see `compileFunction`). */
function offerLoop(edges: readonly Edge[]): (value: unknown, ts: number, wm: number) => void {
  return (value, ts, wm) => {
    let shared: Element | undefined;
    for (const edge of edges) {
      let v = value;
      let key: unknown;
      let kept = true;
      for (const s of edge.steps) {
        if (s.kind === 'filter') {
          if (!s.fn(v)) {
            kept = false;
            break;
          }
        } else if (s.kind === 'map') v = s.fn(v);
        else key = s.fn(v);
      }
      if (!kept) continue;
      if (edge.target !== undefined) {
        edge.pushed = true;
        edge.target.op.push(v, ts, key, wm, edge.target.input);
      } else if (!edge.changes) edge.batch.push(shared ??= { value, ts, key: undefined, wm });
      else edge.batch.push({ value: v, ts, key, wm });
    }
  };
}
