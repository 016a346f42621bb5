import type { Element, Outputs } from './operators/operator.js';
import { FilterOperator } from './operators/stateless.js';

/**
 * The edges out of a source, each with the filters that come first on it applied as events are read:
 * an event a filter drops never becomes an element, and one element per event is shared by the edges
 * that keep it (operators never change an element). For streams that keep a small part of their
 * source — one kind of event of several — this halves the work per event.
 */
export class SourceEdges {
  private readonly edges: { filters: ((v: unknown) => boolean)[]; out: Outputs; batch: Element[] }[];

  constructor(outputs: Outputs) {
    this.edges = outputs.map((edge) => {
      let out: Outputs = [edge];
      const filters: ((v: unknown) => boolean)[] = [];
      while (out.length === 1 && out[0]!.op instanceof FilterOperator) {
        filters.push(out[0]!.op.predicate);
        out = out[0]!.op.outputs;
      }
      return { filters, out, batch: [] };
    });
  }

  /** Adds an event read under watermark `wm` to the batch of every edge whose filters keep it. */
  offer(value: unknown, ts: number, wm: number): void {
    let e: Element | undefined;
    for (const edge of this.edges) {
      if (passes(edge.filters, value)) edge.batch.push(e ??= { value, ts, key: undefined, wm });
    }
  }

  /** Hands each edge's batch to the operators past its filters. */
  flush(): void {
    for (const edge of this.edges) {
      if (edge.batch.length === 0) continue;
      const batch = edge.batch;
      edge.batch = [];
      for (const o of edge.out) o.op.process(batch, o.input);
    }
  }

  /** Sends the watermark along every edge (past the filters, which only pass it on). */
  watermark(wm: number): void {
    for (const edge of this.edges) for (const o of edge.out) o.op.watermark(wm, o.input);
  }
}

function passes(filters: readonly ((v: unknown) => boolean)[], value: unknown): boolean {
  for (let i = 0; i < filters.length; i++) if (!filters[i]!(value)) return false;
  return true;
}
