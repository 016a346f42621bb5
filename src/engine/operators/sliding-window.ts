import { keyId, keyIdOfString, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import type { SlidingWindow, WindowOptionsResolved } from '../windows.js';
import { type Element, type Outputs } from './operator.js';
import { dueRows, timerSchedule, scheduledRowCodec, type TimerSchedule } from './timer-queue.js';
import { WindowOperatorBase } from './window-base.js';

interface KeyState {
  key: unknown;
  /** The key's events by time (ties in arrival order). */
  times: number[];
  values: unknown[];
  /** Times of the windows (one per distinct event time) that have not fired yet, ascending. */
  pending: number[];
  /** The earliest time the key has a timer for (Infinity: none). */
  scheduledAt: number;
}


interface Snapshot {
  wm: number;
  lateEvents: number;
  /** The timers' part (the keys' events are in the state backend). */
  due?: JsonValue;
  /** Checkpoints before the events lived in the state backend. */
  keys?: [keyString: string, key: unknown, times: number[], values: unknown[], pending: number[]][];
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
 * them, and each result is computed from them when it fires, so aggregates need no inverse. Each key's
 * events are a row of the state backend (with LMDB: on disk); a timer per key says when it next has a
 * window to fire or events to drop.
 */
export class SlidingWindowOperator extends WindowOperatorBase {
  private readonly keys: StateTable<KeyState>;
  /** Windows to (re-)emit: key id → window times. */
  private dirty = new Map<KeyId, Set<number>>();
  private readonly due: TimerSchedule;

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: SlidingWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>, state: StateBackend = new MemoryStateBackend()) {
    super(id, out, late, options, aggregates);
    this.keys = state.table(`${id}/events`, scheduledRowCodec<KeyState>());
    this.due = timerSchedule(state, `${id}/due`, spec.size);
  }

  /** How long after its time an event is kept: until the last window containing it closes. */
  private get keep(): number {
    return this.spec.size - 1 + this.options.allowedLateness;
  }

  protected accept(e: Element): boolean {
    const { size } = this.spec;
    const { allowedLateness, emit } = this.options;
    // An event is late when the window it defines has closed.
    if (e.ts + allowedLateness <= this.lateWm) return false;
    const k = keyId(e.key);
    const st = this.keys.get(k) ?? { key: e.key, times: [], values: [], pending: [], scheduledAt: Infinity };
    const at = bound(st.times, e.ts, false);
    const isNewTime = at === 0 || st.times[at - 1] !== e.ts;
    st.times.splice(at, 0, e.ts);
    st.values.splice(at, 0, e.value);
    if (e.ts > this.wm && isNewTime) st.pending.splice(bound(st.pending, e.ts, true), 0, e.ts);
    // Windows that contain the event and already had a result (or, in update mode, any that contain it) emit again.
    const lastAffected = e.ts + size - 1;
    let marks: Set<number> | undefined;
    for (let i = bound(st.times, e.ts, true); i < st.times.length && st.times[i]! <= lastAffected; i++) {
      const t = st.times[i]!;
      if (emit === 'update' || t <= this.wm) (marks ??= this.dirtyFor(k)).add(t);
    }
    this.schedule(k, st);
    this.keys.put(k, st);
    return true;
  }

  /** Gives the key a timer for its next window to fire or event to drop, unless it has an earlier one. */
  private schedule(k: KeyId, st: KeyState): void {
    let at = st.pending.length > 0 ? st.pending[0]! : Infinity;
    // An event at t is dropped once the watermark passes t + keep.
    if (st.times.length > 0 && st.times[0]! + this.keep + 1 < at) at = st.times[0]! + this.keep + 1;
    if (at >= st.scheduledAt) return;
    st.scheduledAt = at;
    this.due.add(at, k, undefined);
  }

  private dirtyFor(k: KeyId): Set<number> {
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
      this.keys.put(k, st);
    }
    this.dirty.clear();
  }

  protected fire(before: number): void {
    const wm = this.wm;
    const keep = this.keep;
    const due: [number, KeyState][] = [];
    const visited = dueRows(this.due, this.keys, wm);
    for (const [, st] of visited) {
      let n = 0;
      while (n < st.pending.length && st.pending[n]! <= wm) due.push([st.pending[n++]!, st]);
      if (n > 0) st.pending.splice(0, n);
    }
    due.sort((a, b) => a[0] - b[0]);
    for (const [t, st] of due) this.pushResult(this.resultAt(st, t), t, st.key, before);
    // Results are computed above, before the events they need are dropped: an event at time t is
    // needed until the last window containing it, (t + size − 1), closes.
    for (const [k, st] of visited) {
      const drop = bound(st.times, wm - keep, true);
      if (drop > 0) {
        st.times.splice(0, drop);
        st.values.splice(0, drop);
      }
      if (st.times.length === 0 && st.pending.length === 0) {
        this.keys.delete(k);
        continue;
      }
      this.schedule(k, st);
      this.keys.put(k, st);
    }
  }

  override snapshot(): Snapshot {
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, due: this.due.snapshot() };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    if (s.due !== undefined) this.due.restore(s.due);
    // A checkpoint from before the events lived in the state backend: they move into it.
    for (const [ks, key, times, values, pending] of s.keys ?? []) {
      const k = keyIdOfString(ks);
      const st: KeyState = { key, times, values, pending, scheduledAt: Infinity };
      this.schedule(k, st);
      this.keys.put(k, st);
    }
  }
}
