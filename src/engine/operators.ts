import type { AppendRecord } from '../core/record.js';
import type { Aggregate } from './aggregates.js';
import type { GraphNode } from './graph.js';
import { windowStarts, type WindowSpec } from './windows.js';

/**
 * An event in flight between operators. `wm` is the watermark in effect when the event arrived at
 * its source: operators that keep time (windows) advance to it before they look at the event, so the
 * outcome does not depend on how the input was cut into batches.
 */
export interface Element {
  value: unknown;
  ts: number;
  key: unknown;
  wm: number;
}

/** Runtime counterpart of a graph node. Batches in, batches out; no promise per event. */
export interface Operator {
  readonly id: string;
  process(batch: Element[]): void;
  /** The watermark of the operator's input advanced to `wm`. */
  watermark(wm: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** Counters a pipeline exposes. */
export interface OperatorMetrics {
  lateEvents: number;
}

abstract class Chained implements Operator {
  constructor(readonly id: string, protected readonly out: Operator[]) {}
  abstract process(batch: Element[]): void;
  protected emit(batch: Element[]): void {
    if (batch.length === 0) return;
    for (const o of this.out) o.process(batch);
  }
  watermark(wm: number): void {
    for (const o of this.out) o.watermark(wm);
  }
  snapshot(): unknown {
    return undefined;
  }
  restore(_state: unknown): void {}
}

class FilterOperator extends Chained {
  constructor(id: string, out: Operator[], private readonly fn: (v: unknown) => boolean) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const kept: Element[] = [];
    for (const e of batch) if (this.fn(e.value)) kept.push(e);
    this.emit(kept);
  }
}

class MapOperator extends Chained {
  constructor(id: string, out: Operator[], private readonly fn: (v: unknown) => unknown) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const mapped: Element[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      mapped[i] = { value: this.fn(e.value), ts: e.ts, key: e.key, wm: e.wm };
    }
    this.emit(mapped);
  }
}

class FlatMapOperator extends Chained {
  constructor(id: string, out: Operator[], private readonly fn: (v: unknown) => Iterable<unknown>) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const out: Element[] = [];
    for (const e of batch) for (const v of this.fn(e.value)) out.push({ value: v, ts: e.ts, key: e.key, wm: e.wm });
    this.emit(out);
  }
}

class KeyByOperator extends Chained {
  constructor(id: string, out: Operator[], private readonly fn: (v: unknown) => unknown) {
    super(id, out);
  }
  process(batch: Element[]): void {
    const keyed: Element[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      keyed[i] = { value: e.value, ts: e.ts, key: this.fn(e.value), wm: e.wm };
    }
    this.emit(keyed);
  }
}

interface WindowEntry {
  key: unknown;
  accs: unknown[];
}

interface WindowSnapshot {
  wm: number;
  lateEvents: number;
  windows: [start: number, entries: [keyString: string, key: unknown, accs: unknown[]][]][];
}

/**
 * Keyed event-time window aggregation, emitting final results when the watermark passes a window's
 * end. Events for windows that have already fired are late: they are counted and left out.
 */
export class WindowAggregateOperator extends Chained {
  private readonly names: string[];
  private readonly aggs: Aggregate<unknown, unknown, unknown>[];
  /** start → (key as string → accumulators). */
  private windows = new Map<number, Map<string, WindowEntry>>();
  private wm = -Infinity;
  /** Smallest `end - 1` of the open windows: the watermark at which something fires next. */
  private nextFire = Infinity;
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Operator[], private readonly spec: WindowSpec, aggregates: Record<string, Aggregate<unknown, unknown, unknown>>) {
    super(id, out);
    this.names = Object.keys(aggregates);
    this.aggs = Object.values(aggregates);
  }

  process(batch: Element[]): void {
    const size = this.spec.size;
    for (const e of batch) {
      if (e.wm > this.wm) this.advance(e.wm);
      for (const start of windowStarts(this.spec, e.ts)) {
        const lastTs = start + size - 1;
        if (lastTs <= this.wm) {
          this.metrics.lateEvents++;
          continue;
        }
        let byKey = this.windows.get(start);
        if (!byKey) {
          byKey = new Map();
          this.windows.set(start, byKey);
          if (lastTs < this.nextFire) this.nextFire = lastTs;
        }
        const k = typeof e.key === 'string' ? e.key : JSON.stringify(e.key);
        let entry = byKey.get(k);
        if (!entry) {
          entry = { key: e.key, accs: this.aggs.map((a) => a.create()) };
          byKey.set(k, entry);
        }
        for (let i = 0; i < this.aggs.length; i++) entry.accs[i] = this.aggs[i]!.add(entry.accs[i], e.value);
      }
    }
  }

  override watermark(wm: number): void {
    if (wm > this.wm) this.advance(wm);
    super.watermark(wm);
  }

  /** Moves time forward and fires every window whose last instant is at or before `wm`. */
  private advance(wm: number): void {
    const before = this.wm;
    this.wm = wm;
    if (wm < this.nextFire) return;
    const size = this.spec.size;
    const due = [...this.windows.keys()].filter((s) => s + size - 1 <= wm).sort((a, b) => a - b);
    const results: Element[] = [];
    for (const start of due) {
      const byKey = this.windows.get(start)!;
      this.windows.delete(start);
      for (const entry of byKey.values()) {
        const value: Record<string, unknown> = { key: entry.key, start, end: start + size };
        for (let i = 0; i < this.aggs.length; i++) value[this.names[i]!] = this.aggs[i]!.result(entry.accs[i]);
        // Results carry the watermark from before this advance: downstream sees them before the new time.
        results.push({ value, ts: start + size - 1, key: entry.key, wm: before });
      }
    }
    this.nextFire = Infinity;
    for (const s of this.windows.keys()) this.nextFire = Math.min(this.nextFire, s + size - 1);
    this.emit(results);
  }

  override snapshot(): WindowSnapshot {
    return {
      wm: this.wm,
      lateEvents: this.metrics.lateEvents,
      windows: [...this.windows].map(([start, byKey]) => [start, [...byKey].map(([k, e]) => [k, e.key, e.accs])]),
    };
  }

  override restore(state: unknown): void {
    const s = state as WindowSnapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.windows = new Map(s.windows.map(([start, entries]) => [start, new Map(entries.map(([k, key, accs]) => [k, { key, accs }]))]));
    this.nextFire = Infinity;
    for (const start of this.windows.keys()) this.nextFire = Math.min(this.nextFire, start + this.spec.size - 1);
  }
}

/** Buffers a pipeline's output records for one topic until the task appends them in one batch. */
export class SinkOperator implements Operator {
  pending: AppendRecord[] = [];
  constructor(readonly id: string, readonly topic: string) {}
  process(batch: Element[]): void {
    for (const e of batch) {
      this.pending.push({ key: e.key === undefined || e.key === null ? null : String(e.key), value: e.value, timestamp: e.ts });
    }
  }
  watermark(): void {}
  snapshot(): unknown {
    return undefined;
  }
  restore(): void {}
}

/** Turns a graph node (and its subtree) into operators; collects every operator by id. */
export function compile(node: GraphNode, all: Map<string, Operator>): Operator[] {
  const out = node.children.flatMap((c) => compile(c, all));
  let op: Operator;
  switch (node.kind) {
    case 'source':
      return out;
    case 'filter':
      op = new FilterOperator(node.id, out, node.fn);
      break;
    case 'map':
      op = new MapOperator(node.id, out, node.fn);
      break;
    case 'flatMap':
      op = new FlatMapOperator(node.id, out, node.fn);
      break;
    case 'keyBy':
      op = new KeyByOperator(node.id, out, node.fn);
      break;
    case 'window':
      op = new WindowAggregateOperator(node.id, out, node.spec, node.aggregates);
      break;
    case 'sink':
      op = new SinkOperator(node.id, node.topic);
      break;
  }
  all.set(op.id, op);
  return [op];
}
