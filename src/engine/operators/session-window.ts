import { keyId, keyIdOfString, keyIdString, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateCodec, StateTable } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import type { SessionWindow, WindowOptionsResolved } from '../windows.js';
import { type Element, type Outputs } from './operator.js';
import { dueRows, scheduledRowCodec, timerSchedule, type TimerSchedule } from './timer-queue.js';
import { WindowOperatorBase } from './window-base.js';

interface Session {
  start: number;
  /** Exclusive: the last event's time + gap. */
  end: number;
  accs: unknown[];
  /** A result for this session's start went out (a merge into another start must retract it). */
  emitted: boolean;
  /** The last result out is up to date. */
  current: boolean;
  dirty: boolean;
}

interface KeyState {
  key: unknown;
  /** `keyId(key)`. */
  k: KeyId;
  /** The earliest time the key is in the timer heap for (Infinity: none); later needs wait for that visit. */
  scheduledAt: number;
  /** Disjoint sessions ordered by start. */
  sessions: Session[];
}

type StoredSession = [start: number, end: number, accs: unknown[], emitted: boolean, current: boolean];

/** A key's sessions as a state table holds them: each session a tuple, without its `dirty` flag. */
const rowCodec = scheduledRowCodec<{ key: unknown; k: KeyId; scheduledAt: number; sessions: StoredSession[] }>();
const sessionsCodec: StateCodec<KeyState> = {
  // `k` as its key string, as rows held it before key ids (older versions read it).
  encode: (st) => rowCodec.encode({ ...st, k: keyIdString(st.k), sessions: st.sessions.map((s) => [s.start, s.end, s.accs, s.emitted, s.current]) }),
  decode: (j) => {
    const o = rowCodec.decode(j);
    // The id from the key, not the stored `k`: rows written before key ids hold it as a key string.
    return { ...o, k: keyId(o.key), sessions: o.sessions.map(([start, end, accs, emitted, current]) => ({ start, end, accs, emitted, current, dirty: false })) };
  },
};

interface Snapshot {
  wm: number;
  lateEvents: number;
  /** The timer index's part (the keys' sessions are in the state backend). */
  due?: JsonValue;
  /** Checkpoints before the sessions moved into the state backend. */
  keys?: [keyString: string, key: unknown, sessions: StoredSession[]][];
}

/**
 * Keyed aggregation over session windows. An event at t opens `[t, t + gap)`; sessions that overlap
 * or touch it merge (accumulators merged), as in Flink. A session fires when the watermark reaches
 * `end − 1`. When a merge swallows a session whose result already went out under another start, a
 * retraction `{ key, start, end, retracted: true }` withdraws that result. Each key's sessions are a
 * row of the state backend (with LMDB: on disk), and when each key next needs a look is a timer.
 */
export class SessionWindowOperator extends WindowOperatorBase {
  private readonly keys: StateTable<KeyState>;
  private dirty: [KeyState, Session][] = [];
  /** The key of the last event accepted, and its row (see `remember`). */
  private lastKey: unknown;
  private lastRow: KeyState | undefined;
  /**
   * When each key next needs a look (a session to fire, or to drop after its allowed lateness): a
   * watermark step visits only the keys due, not every key. Entries may be stale (a session grew since):
   * a visit then just schedules the key again.
   */
  private readonly due: TimerSchedule;

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: SessionWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>, state: StateBackend = new MemoryStateBackend()) {
    super(id, out, late, options, aggregates);
    this.keys = state.table(`${id}/sessions`, sessionsCodec);
    this.due = timerSchedule(state, `${id}/due`, spec.gap);
  }

  protected accept(e: Element): boolean {
    const { gap } = this.spec;
    const { allowedLateness, emit } = this.options;
    // Consecutive events often share a key (a bidder's burst): the last key's row without a lookup.
    let st: KeyState | undefined;
    let k: KeyId;
    if (e.key === this.lastKey && this.lastRow !== undefined && (typeof e.key === 'string' || typeof e.key === 'number')) {
      st = this.lastRow;
      k = st.k;
    } else {
      k = keyId(e.key);
      st = this.keys.get(k);
    }
    const start = e.ts;
    const end = e.ts + gap;
    // Sessions that overlap or touch [start, end).
    let first = 0;
    if (st) while (first < st.sessions.length && st.sessions[first]!.end < start) first++;
    let last = first;
    if (st) while (last < st.sessions.length && st.sessions[last]!.start <= end) last++;
    if (last === first && end - 1 + allowedLateness <= this.lateWm) return false;
    if (last === first + 1 && st!.sessions[first]!.start <= start) {
      // The common case: the event falls into one session (or extends its end) and keeps its start. The
      // session grows in place — no new session, no merge, and its result keeps its start.
      this.grow(st!, st!.sessions[first]!, end, e.value);
      this.remember(e.key, st!);
      return true;
    }
    st ??= { key: e.key, k, sessions: [], scheduledAt: Infinity };
    const merged: Session = { start, end, accs: this.aggs.create(), emitted: false, current: false, dirty: false };
    this.aggs.add(merged.accs, e.value);
    for (let i = first; i < last; i++) {
      const s = st.sessions[i]!;
      s.dirty = false; // swallowed: its pending update (if any) is dropped, the merged session's goes out
      merged.accs = this.aggs.merge(s.accs, merged.accs);
      if (s.start < merged.start) merged.start = s.start;
      if (s.end > merged.end) merged.end = s.end;
    }
    for (let i = first; i < last; i++) {
      const s = st.sessions[i]!;
      if (!s.emitted) continue;
      if (s.start === merged.start) merged.emitted = true; // the merged result replaces it (same key and start)
      else this.pushResult({ key: st.key, start: s.start, end: s.end, retracted: true }, s.end - 1, st.key, this.wm);
    }
    st.sessions.splice(first, last - first, merged);
    if (emit === 'update' || merged.end - 1 <= this.wm) {
      merged.dirty = true;
      this.dirty.push([st, merged]);
    } else {
      this.scheduleAt(st, merged.end - 1);
    }
    this.keys.put(k, st);
    this.remember(e.key, st);
    return true;
  }

  /** A stored row changed: put back where the table holds copies (a table that holds objects has it already). */
  private putBack(st: KeyState): void {
    if (!this.keys.holdsObjects) this.keys.put(st.k, st);
  }

  /** Keeps `st` as the last key's row (with a table that holds objects: the row stays the stored one). */
  private remember(key: unknown, st: KeyState): void {
    if (!this.keys.holdsObjects) return;
    this.lastKey = key;
    this.lastRow = st;
  }

  /** Adds an event to session `s` of `st`, which it belongs to without moving its start. */
  private grow(st: KeyState, s: Session, end: number, value: unknown): void {
    this.aggs.add(s.accs, value);
    if (end > s.end) s.end = end;
    s.current = false;
    if (this.options.emit === 'update' || s.end - 1 <= this.wm) {
      if (!s.dirty) {
        s.dirty = true;
        this.dirty.push([st, s]);
      }
    } else {
      // Grown past the watermark: a replacement queued earlier in this batch is no longer due (the
      // session fires again when the watermark reaches its new end).
      s.dirty = false;
      this.scheduleAt(st, s.end - 1);
    }
    this.putBack(st);
  }

  protected flushUpdates(): void {
    if (this.dirty.length === 0) return;
    for (const [st, s] of this.dirty) {
      if (!s.dirty) continue;
      s.dirty = false;
      s.emitted = true;
      s.current = true;
      this.pushResult(this.aggs.result(st.key, s.start, s.end, s.accs), s.end - 1, st.key, this.wm);
      this.scheduleAt(st, s.end - 1 > this.wm ? s.end - 1 : s.end - 1 + this.options.allowedLateness);
      this.putBack(st);
    }
    this.dirty = [];
  }

  protected fire(before: number): void {
    const wm = this.wm;
    const lateness = this.options.allowedLateness;
    const final = this.options.emit === 'final';
    const rows = dueRows(this.due, this.keys, wm);
    if (rows.length === 0) return;
    const due: [KeyState, Session][] = [];
    for (const [k, st] of rows) {
      let closed = 0;
      for (const s of st.sessions) {
        if (final && !s.current && s.end - 1 <= wm) due.push([st, s]);
        if (s.end - 1 + lateness <= wm) closed++;
      }
      // Most visits find a session grown since it was scheduled: nothing closes, nothing is copied.
      if (closed > 0) st.sessions = st.sessions.filter((s) => s.end - 1 + lateness > wm);
      if (st.sessions.length === 0) {
        this.keys.delete(k);
        if (st === this.lastRow) this.lastRow = undefined;
      }
      else {
        this.schedule(st);
        this.putBack(st);
      }
    }
    due.sort((a, b) => a[1].end - b[1].end);
    for (const [st, s] of due) {
      s.emitted = true;
      s.current = true;
      if (!this.keys.holdsObjects && st.sessions.includes(s)) this.putBack(st);
      this.pushResult(this.aggs.result(st.key, s.start, s.end, s.accs), s.end - 1, st.key, before);
    }
  }

  /** Schedules the key's next look: its earliest session to fire, or to drop after the allowed lateness. */
  private schedule(st: KeyState): void {
    let at = Infinity;
    for (const s of st.sessions) {
      const t = s.end - 1 > this.wm ? s.end - 1 : s.end - 1 + this.options.allowedLateness;
      if (t < at) at = t;
    }
    this.scheduleAt(st, at);
  }

  /** Adds a timer for the key at `at`, unless it has one for an earlier time already (the caller puts `st`). */
  private scheduleAt(st: KeyState, at: number): void {
    if (at >= st.scheduledAt) return;
    st.scheduledAt = at;
    this.due.add(at, st.k, undefined);
  }

  override snapshot(): Snapshot {
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, due: this.due.snapshot() };
  }

  override restore(state: unknown): void {
    this.lastRow = undefined;
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    if (s.keys) {
      // Sessions of a checkpoint from before they lived in the state backend: they move into it.
      for (const [ks, key, sessions] of s.keys) {
        const k = keyIdOfString(ks);
        const st: KeyState = { key, k, scheduledAt: Infinity,
          sessions: sessions.map(([start, end, accs, emitted, current]) => ({ start, end, accs, emitted, current, dirty: false })) };
        this.schedule(st);
        this.keys.put(k, st);
      }
    } else if (s.due !== undefined) {
      this.due.restore(s.due);
    }
  }
}
