import { Chained, InputWatermarks, keyString, type Element, type OperatorMetrics, type Outputs } from './operator.js';

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

interface Snapshot {
  wm: number;
  lateEvents: number;
  /** key string → key and versions [time, value or null for a deletion], oldest first. */
  table: [string, unknown, [number, unknown][]][];
  waiting: [unknown, number, unknown][];
}

/**
 * Enriches a keyed stream (input 0) with a table (input 1): the table is the latest value per key of a
 * changelog stream, where a `null` value deletes the key. With `version: 'event-time'` the table keeps
 * the versions that waiting events may still need, and drops older ones as the watermark passes;
 * there, events of either side that arrive behind the watermark are late.
 */
export class TableJoinOperator extends Chained {
  private wm = -Infinity;
  private readonly inputWms = new InputWatermarks(2);
  private table = new Map<string, { key: unknown; versions: [number, unknown][] }>();
  /** Stream events waiting for the watermark (event-time version only), in arrival order. */
  private waiting: Element[] = [];
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Outputs, private readonly late: Outputs, private readonly mode: TableJoinMode,
    private readonly join: (event: unknown, row: unknown) => unknown) {
    super(id, out);
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
        this.lookup(e, this.rowNow(keyString(e.key)), results, this.wm);
      } else if (e.ts <= (e.wm > this.wm ? e.wm : this.wm)) {
        this.metrics.lateEvents++;
        (lateBatch ??= []).push(e);
      } else {
        this.waiting.push(e);
      }
    }
    this.emit(results);
    if (lateBatch && this.late.length > 0) for (const o of this.late) o.op.process(lateBatch, o.input);
  }

  private upsert(e: Element): void {
    const k = keyString(e.key);
    let row = this.table.get(k);
    if (!row) this.table.set(k, (row = { key: e.key, versions: [] }));
    const value = e.value ?? null;
    if (this.mode.version === 'latest') {
      if (value === null) this.table.delete(k);
      else row.versions = [[e.ts, value]];
      return;
    }
    // Versions ordered by time; a version arriving out of order is put in its place.
    const v = row.versions;
    let i = v.length;
    while (i > 0 && v[i - 1]![0] > e.ts) i--;
    v.splice(i, 0, [e.ts, value]);
  }

  private rowNow(k: string): unknown {
    const row = this.table.get(k);
    return row ? row.versions.at(-1)![1] : undefined;
  }

  private rowAt(k: string, ts: number): unknown {
    const v = this.table.get(k)?.versions;
    if (!v) return undefined;
    for (let i = v.length - 1; i >= 0; i--) if (v[i]![0] <= ts) return v[i]![1] ?? undefined;
    return undefined;
  }

  private lookup(e: Element, row: unknown, results: Element[], wm: number): void {
    if (row === undefined && this.mode.type === 'inner') return;
    results.push({ value: this.join(e.value, row), ts: e.ts, key: e.key, wm });
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
    if (this.waiting.length > 0) {
      const ready = this.waiting.filter((e) => e.ts <= wm).sort((a, b) => a.ts - b.ts);
      if (ready.length > 0) {
        this.waiting = this.waiting.filter((e) => e.ts > wm);
        for (const e of ready) this.lookup(e, this.rowAt(keyString(e.key), e.ts), results, before);
      }
    }
    // Only the newest version at or before the oldest time still to be looked up is needed from the past.
    let horizon = wm;
    for (const e of this.waiting) if (e.ts < horizon) horizon = e.ts;
    for (const [k, row] of this.table) {
      const v = row.versions;
      let keepFrom = 0;
      while (keepFrom + 1 < v.length && v[keepFrom + 1]![0] <= horizon) keepFrom++;
      if (keepFrom > 0) v.splice(0, keepFrom);
      if (v.length === 1 && v[0]![1] === null && v[0]![0] <= horizon) this.table.delete(k);
    }
  }

  override snapshot(): Snapshot {
    return {
      wm: this.wm,
      lateEvents: this.metrics.lateEvents,
      table: [...this.table].map(([k, row]) => [k, row.key, row.versions]),
      waiting: this.waiting.map((e) => [e.key, e.ts, e.value]),
    };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.inputWms.all(this.wm);
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.table = new Map(s.table.map(([k, key, versions]) => [k, { key, versions }]));
    this.waiting = s.waiting.map(([key, ts, value]) => ({ key, ts, value, wm: this.wm }));
  }
}
