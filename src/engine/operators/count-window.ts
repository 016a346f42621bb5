import type { Aggregate } from '../aggregates.js';
import type { CountWindow, WindowOptionsResolved } from '../windows.js';
import { keyString, type Element, type Outputs } from './operator.js';
import { WindowOperatorBase } from './window-base.js';

interface KeyState {
  key: unknown;
  /** The key's last `size` events (times and values), oldest first. */
  times: number[];
  values: unknown[];
  /** Events since the last result. */
  sinceFire: number;
}

interface Snapshot {
  keys: [keyString: string, key: unknown, times: number[], values: unknown[], sinceFire: number][];
}

/**
 * Keyed aggregation over count windows: every `slide` events of a key, a result over its last `size`
 * events (fewer at the start). Results have `start` = the earliest and `end` = the latest event time
 * + 1 of the window's events, and that latest time as their time. Watermarks pass through untouched.
 */
export class CountWindowOperator extends WindowOperatorBase {
  private keys = new Map<string, KeyState>();

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: CountWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>) {
    super(id, out, late, options, aggregates);
  }

  protected accept(e: Element): boolean {
    const k = keyString(e.key);
    let st = this.keys.get(k);
    if (!st) {
      st = { key: e.key, times: [], values: [], sinceFire: 0 };
      this.keys.set(k, st);
    }
    st.times.push(e.ts);
    st.values.push(e.value);
    if (st.times.length > this.spec.size) {
      st.times.shift();
      st.values.shift();
    }
    if (++st.sinceFire === this.spec.slide) {
      st.sinceFire = 0;
      const accs = this.aggs.create();
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < st.times.length; i++) {
        this.aggs.add(accs, st.values[i]);
        if (st.times[i]! < lo) lo = st.times[i]!;
        if (st.times[i]! > hi) hi = st.times[i]!;
      }
      this.pushResult(this.aggs.result(st.key, lo, hi + 1, accs), hi, st.key, e.wm);
      // A tumbling count window needs nothing of its events once it has fired.
      if (this.spec.slide === this.spec.size) this.keys.delete(k);
    }
    return true;
  }

  protected flushUpdates(): void {}
  protected fire(): void {}

  override snapshot(): Snapshot {
    return { keys: [...this.keys].map(([k, st]) => [k, st.key, st.times, st.values, st.sinceFire]) };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.keys = new Map(s.keys.map(([k, key, times, values, sinceFire]) => [k, { key, times, values, sinceFire }]));
  }
}
