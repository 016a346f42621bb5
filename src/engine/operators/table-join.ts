import { keyId, keyIdOfString, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';
import { dueRows, timerIndex, scheduledRowCodec, type TimerIndex } from './timer-queue.js';
import { Chained, InputWatermarks, type Element, type OperatorMetrics, type Outputs } from './operator.js';

/** How a stream event finds its table row. */
export interface TableJoinMode {
  /** `inner`: events without a row give nothing; `left`: they are joined with `undefined`. */
  type: 'inner' | 'left';
  /**
   * `latest`: the row as it is when the event is processed (Kafka Streams' stream–table join).
   * `event-time`: the row's version as of the event's time (a temporal join): events wait until the
   * watermark passes their time, so that every version up to it is known.
   */
  version: 'latest' | 'event-time';
}

/** A key's row: its versions `[time, value or null for a deletion]`, oldest first (one with `latest`). */
interface Row {
  key: unknown;
  versions: [number, unknown][];
  /** The time of the row's cleanup timer (Infinity: none); event-time version only. */
  scheduledAt: number;
}


interface Snapshot {
  wm: number;
  lateEvents: number;
  /** Timers of the waiting events and of the rows' cleanups (their data is in the state backend). */
  waitingTimers?: JsonValue;
  cleanups?: JsonValue;
  /** Events that waited so far: numbers the next one. */
  seq?: number;
  /** Checkpoints before the table lived in the state backend. */
  table?: [string, unknown, [number, unknown][]][];
  waiting?: [unknown, number, unknown][];
}

/**
 * Enriches a keyed stream (input 0) with a table (input 1): the table is the latest value per key of a
 * changelog stream, where a `null` value deletes the key. With `version: 'event-time'` the table keeps
 * the versions that waiting events may still need, and drops older ones as the watermark passes;
 * there, events of either side that arrive behind the watermark are late. The rows are in the state
 * backend (with LMDB: on disk); waiting events are timers at their time, and a row with versions to
 * drop has a timer for when the watermark lets it.
 */
export class TableJoinOperator extends Chained {
  private wm = -Infinity;
  private readonly inputWms = new InputWatermarks(2);
  private readonly rows: StateTable<Row>;
  /** Stream events waiting for the watermark (event-time version only): timers whose key is the event. */
  private readonly waiting: TimerIndex;
  private readonly cleanups: TimerIndex;
  private seq = 0;
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Outputs, private readonly late: Outputs, private readonly mode: TableJoinMode,
    private readonly join: (event: unknown, row: unknown) => unknown, state: StateBackend = new MemoryStateBackend()) {
    super(id, out);
    this.rows = state.table(`${id}/rows`, scheduledRowCodec<Row>());
    this.waiting = timerIndex(state, `${id}/waiting`, 16_000);
    this.cleanups = timerIndex(state, `${id}/cleanups`, 16_000);
  }

  process(batch: Element[], input: number): void {
    const results: Element[] = [];
    let lateBatch: Element[] | undefined;
    for (const e of batch) {
      if (input === 1) {
        // A version behind the watermark could change lookups already answered: it is late.
        if (this.mode.version === 'event-time' && e.ts <= (e.wm > this.wm ? e.wm : this.wm)) {
          this.metrics.lateEvents++;
          (lateBatch ??= []).push(e);
        } else {
          this.upsert(e);
        }
        continue;
      }
      if (this.mode.version === 'latest') {
        this.lookup(e.key, e.value, e.ts, this.rowAt(keyId(e.key), Infinity), results, this.wm);
      } else if (e.ts <= (e.wm > this.wm ? e.wm : this.wm)) {
        this.metrics.lateEvents++;
        (lateBatch ??= []).push(e);
      } else {
        // Numbered so that events of one time are looked up in arrival order.
        this.waiting.add(e.ts, String(this.seq++).padStart(16, '0'), [e.key, e.value]);
      }
    }
    this.emit(results);
    if (lateBatch && this.late.length > 0) for (const o of this.late) o.op.process(lateBatch, o.input);
  }

  private upsert(e: Element): void {
    const k = keyId(e.key);
    const value = e.value ?? null;
    if (this.mode.version === 'latest') {
      if (value === null) this.rows.delete(k);
      else this.rows.put(k, { key: e.key, versions: [[e.ts, value]], scheduledAt: Infinity });
      return;
    }
    const row = this.rows.get(k) ?? { key: e.key, versions: [], scheduledAt: Infinity };
    // Versions ordered by time; a version arriving out of order is put in its place.
    const v = row.versions;
    let i = v.length;
    while (i > 0 && v[i - 1]![0] > e.ts) i--;
    v.splice(i, 0, [e.ts, value]);
    this.scheduleCleanup(k, row);
    this.rows.put(k, row);
  }

  /**
   * When the watermark reaches the second version's time the first is no longer needed; when it reaches
   * a lone deletion's, the row can go. The caller puts the row.
   */
  private scheduleCleanup(k: KeyId, row: Row): void {
    const v = row.versions;
    const at = v.length > 1 ? v[1]![0] : v.length === 1 && v[0]![1] === null ? v[0]![0] : Infinity;
    if (at === row.scheduledAt) return;
    if (row.scheduledAt !== Infinity) this.cleanups.cancel(row.scheduledAt, k);
    row.scheduledAt = at;
    if (at !== Infinity) this.cleanups.add(at, k, undefined);
  }

  /** The row's value as of `ts` (`undefined`: none or deleted). */
  private rowAt(k: KeyId, ts: number): unknown {
    const v = this.rows.get(k)?.versions;
    if (!v) return undefined;
    for (let i = v.length - 1; i >= 0; i--) if (v[i]![0] <= ts) return v[i]![1] ?? undefined;
    return undefined;
  }

  private lookup(key: unknown, value: unknown, ts: number, row: unknown, results: Element[], wm: number): void {
    if (row === undefined && this.mode.type === 'inner') return;
    results.push({ value: this.join(value, row), ts, key, wm });
  }

  override watermark(wm: number, input = 0): void {
    const w = this.inputWms.seen(input, wm);
    if (w > this.wm) {
      const results: Element[] = [];
      this.advance(w, results);
      this.emit(results);
    }
    super.watermark(this.wm);
  }

  private advance(wm: number, results: Element[]): void {
    const before = this.wm;
    this.wm = wm;
    if (this.mode.version === 'latest') return;
    for (let t = this.waiting.pop(wm); t !== undefined; t = this.waiting.pop(wm)) {
      const [key, value] = t.key as [unknown, unknown];
      this.lookup(key, value, t.time, this.rowAt(keyId(key), t.time), results, before);
    }
    // Every event still waiting is later than the watermark: of the past, only the newest version at
    // or before the watermark is needed.
    for (const [k, row] of dueRows(this.cleanups, this.rows, wm)) {
      const v = row.versions;
      let keepFrom = 0;
      while (keepFrom + 1 < v.length && v[keepFrom + 1]![0] <= wm) keepFrom++;
      if (keepFrom > 0) v.splice(0, keepFrom);
      if (v.length === 1 && v[0]![1] === null && v[0]![0] <= wm) {
        this.rows.delete(k);
        continue;
      }
      this.scheduleCleanup(k, row);
      this.rows.put(k, row);
    }
  }

  override snapshot(): Snapshot {
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, waitingTimers: this.waiting.snapshot(), cleanups: this.cleanups.snapshot(), seq: this.seq };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.inputWms.all(this.wm);
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.seq = s.seq ?? 0;
    if (s.waitingTimers !== undefined) this.waiting.restore(s.waitingTimers);
    if (s.cleanups !== undefined) this.cleanups.restore(s.cleanups);
    // A checkpoint from before the table lived in the state backend: rows and waiting events move in.
    for (const [ks, key, versions] of s.table ?? []) {
      const k = keyIdOfString(ks);
      const row: Row = { key, versions, scheduledAt: Infinity };
      if (this.mode.version === 'event-time') this.scheduleCleanup(k, row);
      this.rows.put(k, row);
    }
    for (const [key, ts, value] of s.waiting ?? []) this.waiting.add(ts, String(this.seq++).padStart(16, '0'), [key, value]);
  }
}
