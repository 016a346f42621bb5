import { InvalidArgumentError } from '../../core/errors.js';
import type { JsonValue } from '../../core/record.js';
import type { KeyedStateSnapshot, StateAccessors, StateDescriptor } from '../keyed-state.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend } from '../../state/state-backend.js';
import { KeyedStateStore, keyEntryCodec } from '../keyed-state.js';
import { keyId, type KeyId } from '../../state/key-id.js';
import { Chained, type EdgeTimed, type Element, type Outputs, type PushInput } from './operator.js';
import { timerIndex, timerSchedule, type Timer, type TimerIndex, type TimerSchedule } from './timer-queue.js';

/** Registers timers for the current key. Event-time timers fire when the watermark reaches their time. */
export interface Timers {
  /** Calls `onTimer` once the watermark reaches `time` (at most one timer per key and time). */
  atEventTime(time: number): void;
  /** Calls `onTimer` once the wall clock reaches `time` (epoch ms). */
  atProcessingTime(time: number): void;
  cancelEventTime(time: number): void;
  cancelProcessingTime(time: number): void;
}

/** What `onEvent` and `onTimer` of a {@link ProcessFunction} receive. */
export interface ProcessContext<K, Out, S extends Record<string, StateDescriptor>> {
  /** The key being processed. */
  readonly key: K;
  /** Event time of the event, or the time of the timer that fired. */
  readonly timestamp: number;
  /** The watermark in effect. */
  readonly watermark: number;
  /** The declared state, scoped to `key`. */
  readonly state: StateAccessors<S>;
  readonly timers: Timers;
  /** Emits a result keyed by `key`, with event time `timestamp` unless given. */
  emit(value: Out, timestamp?: number): void;
  /** Wall-clock time in epoch ms. */
  now(): number;
}

/** What fired in `onTimer`. */
export interface TimerInfo {
  domain: 'event' | 'processing';
  time: number;
}

/**
 * A custom keyed operator with state and timers, for logic that windows and joins do not express:
 * alert once per hour per card, detect a sensor that stopped reporting, run a state machine per user.
 *
 * @example Alert when a sensor sends nothing for a minute.
 * ```ts
 * readings.keyBy((r) => r.sensor).process({
 *   state: { deadline: valueState<number>() },
 *   onEvent(r, ctx) {
 *     const old = ctx.state.deadline.get();
 *     if (old !== undefined) ctx.timers.cancelEventTime(old);
 *     ctx.state.deadline.set(r.ts + 60_000);
 *     ctx.timers.atEventTime(r.ts + 60_000);
 *   },
 *   onTimer(_t, ctx) {
 *     ctx.emit({ sensor: ctx.key, silentSince: ctx.timestamp - 60_000 });
 *     ctx.state.deadline.clear();
 *   },
 * });
 * ```
 */
export interface ProcessFunction<T, K, Out, S extends Record<string, StateDescriptor> = Record<string, never>> {
  /** The keyed state the function uses, declared with `valueState`, `mapState` and `listState`. */
  state?: S;
  /**
   * The version of what the function keeps in its state (default 1). Raise it when new code reads the
   * state differently: a restart from a checkpoint of another version then fails instead of misreading it.
   */
  stateVersion?: number;
  onEvent(event: T, ctx: ProcessContext<K, Out, S>): void;
  onTimer?(timer: TimerInfo, ctx: ProcessContext<K, Out, S>): void;
}

interface Snapshot {
  wm: number;
  /** Keyed state, in checkpoints of Rivulet 0.1 (it lives in the state backend since). */
  state?: KeyedStateSnapshot;
  /** What each timer index needs to restore (see `TimerIndex.snapshot`). */
  eventTimers: JsonValue;
  processingTimers: JsonValue;
  stateCleanups?: JsonValue;
  /** Checkpoints before timers carried their keys: the keys of the timers' key strings. */
  keys?: [keyString: string, key: unknown][];
}

/** A timer's time, checked: one that is not a finite number would never fire and would block the ones after it. */
function timerTime(t: number, method: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new InvalidArgumentError(`timers.${method} takes a time in epoch milliseconds, got ${String(t)}`, 'invalid_timer_time');
  return t;
}

/** Runs a {@link ProcessFunction} per key: state, event-time and processing-time timers. */
export class ProcessOperator extends Chained implements EdgeTimed, PushInput {
  edgeTimed = false;
  /**
   * Edge-timed, with timers the index cannot find by key (on disk): each key's pending event-time
   * timers, so that an event read under a later watermark than the operator's can first have its own
   * key's timers fire (see `push`). Built from the index when first needed (and after a restore).
   */
  private keyEventTimers: Map<KeyId, number[]> | undefined;
  private readonly store: KeyedStateStore;
  /** Timers in the heap, or with LMDB in a table (timers of millions of keys stay on disk). */
  private readonly eventTimers: TimerIndex;
  private readonly processingTimers: TimerIndex;
  /** When keys with TTL states are next cleaned (see `KeyedStateStore`). */
  private readonly stateCleanups: TimerSchedule;
  private wm = -Infinity;
  /** The watermark results carry: the one before the step that fired a timer, so downstream sees them on time. */
  private emitWm = -Infinity;
  private results: Element[] = [];
  /** The last event's key and its key id (consecutive events often share a key). */
  private lastKey: unknown;
  private lastId: KeyId | undefined;
  private readonly ctx: {
    key: unknown; timestamp: number; watermark: number; id: KeyId;
    state: Record<string, unknown>; timers: Timers; emit(v: unknown, ts?: number): void; now(): number;
  };

  constructor(id: string, out: Outputs, private readonly fn: ProcessFunction<unknown, unknown, unknown, Record<string, StateDescriptor>>,
    state: StateBackend = new MemoryStateBackend()) {
    super(id, out);
    this.eventTimers = timerIndex(state, `${id}/event-timers`, 16_000);
    this.stateCleanups = timerSchedule(state, `${id}/state-cleanups`, 16_000);
    this.store = new KeyedStateStore(fn.state ?? {}, state.table(`${id}/state`, keyEntryCodec), this.stateCleanups);
    this.processingTimers = timerIndex(state, `${id}/processing-timers`, 16_000);
    const ctx = {
      key: undefined as unknown,
      id: '' as KeyId,
      timestamp: 0,
      watermark: -Infinity,
      state: this.store.accessors,
      timers: {
        atEventTime: (t: number) => {
          if (this.eventTimers.add(timerTime(t, 'atEventTime'), ctx.id, ctx.key) && this.edgeTimed) this.indexTimer(ctx.id, t);
        },
        atProcessingTime: (t: number) => { this.processingTimers.add(timerTime(t, 'atProcessingTime'), ctx.id, ctx.key); },
        cancelEventTime: (t: number) => {
          if (this.eventTimers.cancel(t, ctx.id) && this.edgeTimed) this.unindexTimer(ctx.id, t);
        },
        cancelProcessingTime: (t: number) => { this.processingTimers.cancel(t, ctx.id); },
      },
      emit: (value: unknown, ts?: number) => { this.results.push({ value, ts: ts ?? ctx.timestamp, key: ctx.key, wm: this.emitWm }); },
      now: () => Date.now(),
    };
    this.ctx = ctx;
  }

  private enter(ks: KeyId, key: unknown, time: number): void {
    this.ctx.key = key;
    this.ctx.id = ks;
    this.ctx.timestamp = time;
    this.ctx.watermark = this.wm;
    this.store.select(ks, key, time);
    this.emitWm = this.wm;
  }

  process(batch: Element[], _input = 0): void {
    for (const e of batch) this.push(e.value, e.ts, e.key, e.wm);
    this.flush();
  }

  /** One event, as a source reads it (see {@link PushInput}). */
  push(value: unknown, ts: number, key: unknown, wm: number): void {
    let ks = this.lastId;
    // Only a string or number is the same key whenever it is the same value (an object may change).
    if (key !== this.lastKey || ks === undefined || (typeof key !== 'string' && typeof key !== 'number')) {
      ks = this.lastId = keyId(key);
      this.lastKey = key;
    }
    if (wm > this.wm) {
      // An event is handled after every timer its read watermark passed. Keeping time by the input
      // edges, the operator cannot advance to it (another task's events may still come before it),
      // but the timers that matter are the event's own key's: those fire first.
      if (this.edgeTimed) this.fireKeyTimers(ks, key, wm);
      else this.advance(wm);
    }
    this.handle(value, ts, key, wm, ks);
  }

  /** Emits the results of the events since the last call. */
  endBatch(): void {
    this.flush();
  }

  override watermark(wm: number): void {
    if (wm > this.wm) {
      this.advance(wm);
      this.flush();
    }
    super.watermark(wm);
  }

  /** Fires key `ks`'s event-time timers at or before `wm`, in time order (edge-timed). */
  private fireKeyTimers(ks: KeyId, key: unknown, wm: number): void {
    // Most events find no timer at all that is due by their watermark: no lookup by key.
    while (this.eventTimers.lowerBound <= wm) {
      const first = this.earliestTimer(ks);
      if (first > wm) return;
      this.eventTimers.cancel(first, ks);
      this.unindexTimer(ks, first);
      this.fireTimer('event', first, ks, key, this.wm);
    }
  }

  /** The time of key `ks`'s earliest event-time timer (Infinity: none). */
  private earliestTimer(ks: KeyId): number {
    const known = this.eventTimers.earliestOf(ks);
    if (known !== undefined) return known;
    if (this.keyEventTimers === undefined) {
      this.keyEventTimers = new Map();
      for (const t of this.eventTimers.list()) this.indexTimer(t.id, t.time, this.keyEventTimers);
    }
    let first = Infinity;
    for (const t of this.keyEventTimers.get(ks) ?? []) if (t < first) first = t;
    return first;
  }

  /** Adds a timer to `keyEventTimers`, once that is built. */
  private indexTimer(ks: KeyId, t: number, index = this.keyEventTimers): void {
    if (index === undefined) return;
    const times = index.get(ks);
    if (times) times.push(t);
    else index.set(ks, [t]);
  }

  private unindexTimer(ks: KeyId, t: number): void {
    const times = this.keyEventTimers?.get(ks);
    if (!times) return;
    const i = times.indexOf(t);
    if (i >= 0) times.splice(i, 1);
    if (times.length === 0) this.keyEventTimers!.delete(ks);
  }

  private handle(value: unknown, ts: number, key: unknown, wm: number, ks: KeyId): void {
    this.enter(ks, key, ts);
    if (wm > this.ctx.watermark) this.ctx.watermark = wm;
    try {
      this.fn.onEvent(value, this.ctx as never);
    } finally {
      this.store.release();
    }
  }

  override tick(now: number): void {
    let t: Timer | undefined;
    while ((t = this.processingTimers.pop(now))) this.fireTimer('processing', t.time, t.id, t.key, this.wm);
    this.flush();
    super.tick(now);
  }

  /** Whether processing-time timers are pending (the task then ticks the operator). */
  get wantsTicks(): boolean {
    return !this.processingTimers.empty;
  }

  private advance(wm: number): void {
    // Results stay in `results` (in order) until the end of the batch: when a source's read loop pushes
    // events here, emitting in the middle would interleave them with the source's other edges.
    const before = this.wm;
    this.wm = wm;
    let t: Timer | undefined;
    while ((t = this.eventTimers.pop(wm))) {
      if (this.edgeTimed) this.unindexTimer(t.id, t.time);
      this.fireTimer('event', t.time, t.id, t.key, before);
    }
    this.store.expire(wm);
  }

  private fireTimer(domain: 'event' | 'processing', time: number, ks: KeyId, key: unknown, emitWm: number): void {
    if (!this.fn.onTimer) return;
    this.enter(ks, key, domain === 'event' ? time : this.wm);
    this.emitWm = emitWm;
    try {
      this.fn.onTimer({ domain, time }, this.ctx as never);
    } finally {
      this.store.release();
    }
  }

  private flush(): void {
    if (this.results.length === 0) return;
    const r = this.results;
    this.results = [];
    this.emit(r);
  }

  override snapshot(): Snapshot {
    return {
      wm: this.wm,
      eventTimers: this.eventTimers.snapshot(),
      processingTimers: this.processingTimers.snapshot(),
      stateCleanups: this.stateCleanups.snapshot(),
    };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.keyEventTimers = undefined;
    if (s.stateCleanups !== undefined) this.stateCleanups.restore(s.stateCleanups);
    this.store.restore(this.wm, s.state, s.stateCleanups === undefined);
    const withKeys = (timers: JsonValue): JsonValue => {
      if (!s.keys) return timers;
      const keys = new Map(s.keys);
      return (timers as [number, string][]).map(([t, k]) => [t, k, keys.get(k)]) as JsonValue;
    };
    this.eventTimers.restore(withKeys(s.eventTimers));
    this.processingTimers.restore(withKeys(s.processingTimers));
  }
}
