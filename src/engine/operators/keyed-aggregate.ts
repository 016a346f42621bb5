import type { Aggregate } from '../aggregates.js';
import { Chained, keyString, type Element, type Outputs } from './operator.js';
import { AggregateSet } from './window-base.js';

interface Entry {
  key: unknown;
  accs: unknown[];
  /** Largest event time added. */
  ts: number;
  dirty: boolean;
}

interface Snapshot {
  keys: [string, unknown, unknown[], number][];
}

/**
 * Running aggregates per key over the whole stream (no window): after every batch, one upsert
 * `{ key, …aggregates }` per key that changed. The output is a changelog: its latest record per key is
 * the current value, which is what a view of it shows.
 */
export class KeyedAggregateOperator extends Chained {
  private readonly aggs: AggregateSet;
  private entries = new Map<string, Entry>();
  private dirty: Entry[] = [];

  constructor(id: string, out: Outputs, aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
    /**
     * `'partials'`: the input is each task's accumulators of a key since its last batch (an array per
     * element, from `parallel/combine.ts`), merged instead of added.
     */
    private readonly input: 'events' | 'partials' = 'events') {
    super(id, out);
    this.aggs = new AggregateSet(aggregates);
  }

  process(batch: Element[]): void {
    let wm = -Infinity;
    const partials = this.input === 'partials';
    for (const e of batch) {
      const k = keyString(e.key);
      let entry = this.entries.get(k);
      if (partials) {
        if (!entry) this.entries.set(k, (entry = { key: e.key, accs: e.value as unknown[], ts: e.ts, dirty: false }));
        else entry.accs = this.aggs.merge(entry.accs, e.value as unknown[]);
      } else {
        if (!entry) this.entries.set(k, (entry = { key: e.key, accs: this.aggs.create(), ts: e.ts, dirty: false }));
        this.aggs.add(entry.accs, e.value);
      }
      if (e.ts > entry.ts) entry.ts = e.ts;
      if (!entry.dirty) {
        entry.dirty = true;
        this.dirty.push(entry);
      }
      wm = e.wm;
    }
    const results: Element[] = new Array(this.dirty.length);
    for (let i = 0; i < this.dirty.length; i++) {
      const entry = this.dirty[i]!;
      entry.dirty = false;
      results[i] = { value: this.aggs.row(entry.key, entry.accs), ts: entry.ts, key: entry.key, wm };
    }
    this.dirty = [];
    this.emit(results);
  }

  override snapshot(): Snapshot {
    return { keys: [...this.entries].map(([k, e]) => [k, e.key, e.accs, e.ts]) };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.entries = new Map(s.keys.map(([k, key, accs, ts]) => [k, { key, accs, ts, dirty: false }]));
  }
}
