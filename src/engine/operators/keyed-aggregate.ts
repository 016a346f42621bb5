import { keyId, keyIdOfString, type KeyId } from '../../state/key-id.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import { Chained, type Element, type Outputs } from './operator.js';
import { AggregateSet } from './window-base.js';

/** A key's running aggregates, as its state table holds them (a JSON value). */
interface Entry {
  key: unknown;
  accs: unknown[];
  /** Largest event time added. */
  ts: number;
}

/**
 * Running aggregates per key over the whole stream (no window): after every batch, one upsert
 * `{ key, …aggregates }` per key that changed. The output is a changelog: its latest record per key is
 * the current value, which is what a view of it shows.
 */
export class KeyedAggregateOperator extends Chained {
  private readonly aggs: AggregateSet;
  /** Each key's entry, in the task's state backend (on disk with LMDB). */
  private readonly entries: StateTable<Entry>;
  /** The entries this batch changed. */
  private readonly dirty = new Map<KeyId, Entry>();

  constructor(id: string, out: Outputs, aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
    /**
     * `'partials'`: the input is each task's accumulators of a key since its last batch (an array per
     * element, from `parallel/combine.ts`), merged instead of added.
     */
    private readonly input: 'events' | 'partials' = 'events', state: StateBackend = new MemoryStateBackend()) {
    super(id, out);
    this.aggs = new AggregateSet(aggregates);
    this.entries = state.table<Entry>(`${id}/keys`);
  }

  process(batch: Element[]): void {
    let wm = -Infinity;
    const partials = this.input === 'partials';
    const dirty = this.dirty;
    for (const e of batch) {
      const k = keyId(e.key);
      // Once changed in this batch, an entry is taken from here: a table on disk returns a new copy per read.
      let entry = dirty.get(k);
      if (entry === undefined) {
        const stored = this.entries.get(k);
        if (partials && stored === undefined) {
          dirty.set(k, { key: e.key, accs: e.value as unknown[], ts: e.ts });
          wm = e.wm;
          continue;
        }
        entry = stored ?? { key: e.key, accs: this.aggs.create(), ts: e.ts };
        dirty.set(k, entry);
      }
      if (partials) entry.accs = this.aggs.merge(entry.accs, e.value as unknown[]);
      else this.aggs.add(entry.accs, e.value);
      if (e.ts > entry.ts) entry.ts = e.ts;
      wm = e.wm;
    }
    const results: Element[] = new Array(dirty.size);
    let i = 0;
    for (const [k, entry] of dirty) {
      this.entries.put(k, entry);
      results[i++] = { value: this.aggs.row(entry.key, entry.accs), ts: entry.ts, key: entry.key, wm };
    }
    dirty.clear();
    this.emit(results);
  }

  /** State lives in the backend; a checkpoint of Rivulet 0.1 held it here (`keys`), and is moved into the table. */
  override restore(state: unknown): void {
    for (const [k, key, accs, ts] of (state as { keys?: [string, unknown, unknown[], number][] } | undefined)?.keys ?? []) this.entries.put(keyIdOfString(k), { key, accs, ts });
  }
}
