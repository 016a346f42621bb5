import { keyId, keyIdString, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';
import { dueRows, timerIndex, scheduledRowCodec, type TimerIndex } from './timer-queue.js';
import { Chained, InputWatermarks, type Element, type OperatorMetrics, type Outputs } from './operator.js';

/** One side's buffered events of one key, as a state table holds them. */
interface Buffered {
  key: unknown;
  /** `[time, value]`, in arrival order. */
  events: [number, unknown][];
  /** The time of the key's cleanup timer (Infinity: none). */
  scheduledAt: number;
}


interface Snapshot {
  wm: number;
  lateEvents: number;
  /** The cleanup timers' part (the buffered events are in the state backend). */
  expiry?: JsonValue;
  /** Checkpoints before the events lived in the state backend. */
  left?: [string, [unknown, number, unknown][]][];
  right?: [string, [unknown, number, unknown][]][];
}

/**
 * Stream–stream join within time bounds: a left event at t pairs with each right event of the same
 * key whose time is in `[t − before, t + after]`; the result has the later of the two times. Each side
 * keeps its events only while a future event of the other side could still match them, so state is
 * bounded by the bounds and the watermark delay. An event that arrives at or behind the watermark is late.
 * The events are rows of the state backend per side and key (with LMDB: on disk); a timer per row says
 * when its oldest event expires.
 */
export class IntervalJoinOperator extends Chained {
  private wm = -Infinity;
  private readonly inputWms = new InputWatermarks(2);
  private readonly buffered: StateTable<Buffered>;
  private readonly expiries: TimerIndex;
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Outputs, private readonly late: Outputs, private readonly before: number, private readonly after: number,
    private readonly join: (left: unknown, right: unknown) => unknown, state: StateBackend = new MemoryStateBackend()) {
    super(id, out);
    this.buffered = state.table(`${id}/buffered`, scheduledRowCodec<Buffered>());
    this.expiries = timerIndex(state, `${id}/expiry`, before + after);
  }

  /** Time after which a buffered event of `input` can no longer match. */
  private expiry(input: number, ts: number): number {
    return input === 0 ? ts + this.after : ts + this.before;
  }

  process(batch: Element[], input: number): void {
    const results: Element[] = [];
    let lateBatch: Element[] | undefined;
    for (const e of batch) {
      // Late by the watermark the event arrived under (the operator's own may lag behind it).
      if (e.ts <= (e.wm > this.wm ? e.wm : this.wm)) {
        this.metrics.lateEvents++;
        (lateBatch ??= []).push(e);
        continue;
      }
      const k = keyId(e.key);
      // For a left event the right side must be in [ts − before, ts + after]; for a right event, the mirror.
      const lo = input === 0 ? e.ts - this.before : e.ts - this.after;
      const hi = input === 0 ? e.ts + this.after : e.ts + this.before;
      const matches = this.buffered.get(`${1 - input}\u0000${k}`);
      if (matches) {
        for (const [ts, value] of matches.events) {
          if (ts < lo || ts > hi) continue;
          const joined = input === 0 ? this.join(e.value, value) : this.join(value, e.value);
          results.push({ value: joined, ts: Math.max(e.ts, ts), key: e.key, wm: this.wm });
        }
      }
      const row = `${input}\u0000${k}`;
      const own = this.buffered.get(row) ?? { key: e.key, events: [], scheduledAt: Infinity };
      own.events.push([e.ts, e.value]);
      this.schedule(row, own, this.expiry(input, e.ts));
      this.buffered.put(row, own);
    }
    this.emit(results);
    if (lateBatch && this.late.length > 0) for (const o of this.late) o.op.process(lateBatch, o.input);
  }

  /** Sets the row's cleanup timer to `at` unless it has an earlier one (the caller puts the row). */
  private schedule(row: KeyId, b: Buffered, at: number): void {
    if (at >= b.scheduledAt) return;
    if (b.scheduledAt !== Infinity) this.expiries.cancel(b.scheduledAt, row);
    b.scheduledAt = at;
    this.expiries.add(at, row, undefined);
  }

  override watermark(wm: number, input = 0): void {
    const w = this.inputWms.seen(input, wm);
    if (w > this.wm) this.advance(w);
    super.watermark(this.wm);
  }

  /** Drops the events no future event can match: those of the rows whose timer the watermark reached. */
  private advance(wm: number): void {
    this.wm = wm;
    for (const [row, b] of dueRows(this.expiries, this.buffered, wm)) {
      const input = keyIdString(row).startsWith('0') ? 0 : 1; // rows are `input NUL key`
      b.events = b.events.filter(([ts]) => this.expiry(input, ts) > wm);
      if (b.events.length === 0) {
        this.buffered.delete(row);
        continue;
      }
      let next = Infinity;
      for (const [ts] of b.events) next = Math.min(next, this.expiry(input, ts));
      this.schedule(row, b, next);
      this.buffered.put(row, b);
    }
  }

  override snapshot(): Snapshot {
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, expiry: this.expiries.snapshot() };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.inputWms.all(this.wm);
    this.metrics.lateEvents = s.lateEvents ?? 0;
    if (s.expiry !== undefined) {
      this.expiries.restore(s.expiry);
      return;
    }
    // A checkpoint from before the events lived in the state backend: they move into it.
    [s.left ?? [], s.right ?? []].forEach((dump, input) => {
      for (const [k, evs] of dump) {
        if (evs.length === 0) continue;
        const row = `${input}\u0000${k}`;
        const b: Buffered = { key: evs[0]![0], events: evs.map(([, ts, value]) => [ts, value]), scheduledAt: Infinity };
        let first = Infinity;
        for (const [, ts] of evs) first = Math.min(first, this.expiry(input, ts));
        this.schedule(row, b, first);
        this.buffered.put(row, b);
      }
    });
  }
}
