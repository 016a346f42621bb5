import type { Aggregate } from '../aggregates.js';
import type { SlidingWindow, WindowOptionsResolved } from '../windows.js';
import { keyString, type Element, type Outputs } from './operator.js';
import { WindowOperatorBase } from './window-base.js';

interface KeyState {
  key: unknown;
  /** The key's events by time (ties in arrival order). */
  times: number[];
  values: unknown[];
  /** Times of the windows (one per distinct event time) that have not fired yet, ascending. */
  pending: number[];
}

interface Snapshot {
  wm: number;
  lateEvents: number;
  keys: [keyString: string, key: unknown, times: number[], values: unknown[], pending: number[]][];
}

/** First index whose value is > `t` (or ≥ when `inclusive`), by binary search. */
function bound(a: number[], t: number, inclusive: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (inclusive ? a[mid]! < t : a[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Keyed aggregation over sliding windows: each distinct event time t of a key defines the window
 * `(t − size, t]`, fired when the watermark reaches t. Events are kept until no open window needs
 * them, and each result is computed from them when it fires, so aggregates need no inverse.
 */
export class SlidingWindowOperator extends WindowOperatorBase {
  private keys = new Map<string, KeyState>();
  /** Windows to (re-)emit: key string → window times. */
  private dirty = new Map<string, Set<number>>();
  private nextFire = Infinity;
  /** No key holds an event older than this: the purge below runs only when it can drop something. */
  private oldest = Infinity;

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: SlidingWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>) {
    super(id, out, late, options, aggregates);
  }

  protected accept(e: Element): boolean {
    const { size } = this.spec;
    const { allowedLateness, emit } = this.options;
    // An event is late when the window it defines has closed.
    if (e.ts + allowedLateness <= this.lateWm) return false;
    const k = keyString(e.key);
    let st = this.keys.get(k);
    if (!st) {
      st = { key: e.key, times: [], values: [], pending: [] };
      this.keys.set(k, st);
    }
    const at = bound(st.times, e.ts, false);
    const isNewTime = at === 0 || st.times[at - 1] !== e.ts;
    st.times.splice(at, 0, e.ts);
    if (e.ts < this.oldest) this.oldest = e.ts;
    st.values.splice(at, 0, e.value);
    if (e.ts > this.wm) {
      if (isNewTime) {
        st.pending.splice(bound(st.pending, e.ts, true), 0, e.ts);
        if (e.ts < this.nextFire) this.nextFire = e.ts;
      }
    }
    // Windows that contain the event and already had a result (or, in update mode, any that contain it) emit again.
    const lastAffected = e.ts + size - 1;
    let marks: Set<number> | undefined;
    for (let i = bound(st.times, e.ts, true); i < st.times.length && st.times[i]! <= lastAffected; i++) {
      const t = st.times[i]!;
      if (emit === 'update' || t <= this.wm) (marks ??= this.dirtyFor(k)).add(t);
    }
    return true;
  }

  private dirtyFor(k: string): Set<number> {
    let s = this.dirty.get(k);
    if (!s) {
      s = new Set();
      this.dirty.set(k, s);
    }
    return s;
  }

  private resultAt(st: KeyState, t: number): Record<string, unknown> {
    const accs = this.aggs.create();
    for (let i = bound(st.times, t - this.spec.size, false); i < st.times.length && st.times[i]! <= t; i++) this.aggs.add(accs, st.values[i]);
    return this.aggs.result(st.key, t - this.spec.size + 1, t + 1, accs);
  }

  protected flushUpdates(): void {
    if (this.dirty.size === 0) return;
    for (const [k, times] of this.dirty) {
      const st = this.keys.get(k)!;
      for (const t of [...times].sort((a, b) => a - b)) {
        this.pushResult(this.resultAt(st, t), t, st.key, this.wm);
        // In update mode the window's result is out; it does not fire again unless it changes.
        const p = bound(st.pending, t, true);
        if (st.pending[p] === t) st.pending.splice(p, 1);
      }
    }
    this.dirty.clear();
  }

  protected fire(before: number): void {
    const wm = this.wm;
    const { size } = this.spec;
    const keep = size - 1 + this.options.allowedLateness;
    if (wm >= this.nextFire) {
      const due: [number, KeyState][] = [];
      for (const st of this.keys.values()) {
        let n = 0;
        while (n < st.pending.length && st.pending[n]! <= wm) due.push([st.pending[n++]!, st]);
        if (n > 0) st.pending.splice(0, n);
      }
      due.sort((a, b) => a[0] - b[0]);
      for (const [t, st] of due) this.pushResult(this.resultAt(st, t), t, st.key, before);
      this.nextFire = Infinity;
      for (const st of this.keys.values()) if (st.pending.length > 0 && st.pending[0]! < this.nextFire) this.nextFire = st.pending[0]!;
    }
    // An event at time t is needed until the last window containing it, (t + size − 1), closes.
    if (this.oldest >= wm - keep) return;
    this.oldest = Infinity;
    for (const [k, st] of this.keys) {
      const drop = bound(st.times, wm - keep, true);
      if (drop === 0) continue;
      if (drop === st.times.length && st.pending.length === 0) {
        this.keys.delete(k);
        continue;
      }
      st.times.splice(0, drop);
      st.values.splice(0, drop);
    }
    for (const st of this.keys.values()) if (st.times.length > 0 && st.times[0]! < this.oldest) this.oldest = st.times[0]!;
  }

  override snapshot(): Snapshot {
    return {
      wm: this.wm,
      lateEvents: this.metrics.lateEvents,
      keys: [...this.keys].map(([k, st]) => [k, st.key, st.times, st.values, st.pending]),
    };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.keys = new Map(s.keys.map(([k, key, times, values, pending]) => [k, { key, times, values, pending }]));
    this.nextFire = -Infinity;
    this.oldest = -Infinity;
  }
}
