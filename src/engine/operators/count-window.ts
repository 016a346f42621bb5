import { keyId, keyIdOfString } from '../../state/key-id.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import type { CountWindow, WindowOptionsResolved } from '../windows.js';
import { type Element, type Outputs } from './operator.js';
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
  /** Checkpoints before the keys' events lived in the state backend. */
  keys?: [keyString: string, key: unknown, times: number[], values: unknown[], sinceFire: number][];
}

/**
 * Keyed aggregation over count windows: every `slide` events of a key, a result over its last `size`
 * events (fewer at the start). Results have `start` = the earliest and `end` = the latest event time
 * + 1 of the window's events, and that latest time as their time. Watermarks pass through untouched.
 */
export class CountWindowOperator extends WindowOperatorBase {
  /** Each key's last events, in the state backend (with LMDB: on disk). */
  private readonly keys: StateTable<KeyState>;

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: CountWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>, state: StateBackend = new MemoryStateBackend()) {
    super(id, out, late, options, aggregates);
    this.keys = state.table(`${id}/events`);
  }

  protected accept(e: Element): boolean {
    const k = keyId(e.key);
    const st = this.keys.get(k) ?? { key: e.key, times: [], values: [], sinceFire: 0 };
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
      if (this.spec.slide === this.spec.size) {
        this.keys.delete(k);
        return true;
      }
    }
    this.keys.put(k, st);
    return true;
  }

  protected flushUpdates(): void {}
  protected fire(): void {}

  override snapshot(): Snapshot {
    return {};
  }

  override restore(state: unknown): void {
    // A checkpoint from before the events lived in the state backend: they move into it.
    for (const [k, key, times, values, sinceFire] of (state as Snapshot).keys ?? []) this.keys.put(keyIdOfString(k), { key, times, values, sinceFire });
  }
}
