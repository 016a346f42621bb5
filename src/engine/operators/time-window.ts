import type { JsonValue } from '../../core/record.js';
import { StateMismatchError, type StateBackend, type StateCodec, type StateTable } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import { lastWindowStart, windowSlide, type HoppingWindow, type TumblingWindow, type WindowOptionsResolved } from '../windows.js';
import { keyString, type Element, type Outputs } from './operator.js';
import { WindowOperatorBase } from './window-base.js';

/** The accumulators of one key and one window gathered by one task, sent to the task that owns the key. */
export interface WindowPartial {
  start: number;
  accs: unknown[];
}

interface Entry {
  key: unknown;
  start: number;
  accs: unknown[];
  /** A result for this window and key went out (it fired, or `update` mode emitted it). */
  fired: boolean;
  /** Changed since its last result and waiting in the dirty list. */
  dirty: boolean;
}

interface Snapshot {
  wm: number;
  lateEvents: number;
  /** The windows and their entries (state in the heap), or the open windows' starts (entries in a state table). */
  windows: [start: number, entries: [keyString: string, key: unknown, accs: unknown[], fired: boolean][]][] | number[];
}

/** Where a time-window operator keeps its entries, by window start and key string. */
interface WindowEntries {
  get(start: number, k: string): Entry | undefined;
  /** Stores a new entry. */
  add(start: number, k: string, entry: Entry): void;
  /** An entry from `get` was changed in place: tables store it again, the heap has it already. */
  touch(start: number, k: string, entry: Entry): void;
  /** Whether the window holds entries. */
  has(start: number): boolean;
  starts(): Iterable<number>;
  /** The window's entries (a copy: the caller may put while going through them). */
  entries(start: number): Entry[];
  /** Drops a closed window and its entries. */
  drop(start: number): void;
  snapshot(): Snapshot['windows'];
  restore(windows: Snapshot['windows']): void;
}

/** Entries in the heap: a map per window; checkpoints hold them all (the memory state backend). */
class HeapWindowEntries implements WindowEntries {
  private windows = new Map<number, Map<string, Entry>>();
  get(start: number, k: string): Entry | undefined {
    return this.windows.get(start)?.get(k);
  }
  add(start: number, k: string, entry: Entry): void {
    let byKey = this.windows.get(start);
    if (!byKey) this.windows.set(start, (byKey = new Map()));
    byKey.set(k, entry);
  }
  touch(): void {}
  has(start: number): boolean {
    return this.windows.has(start);
  }
  starts(): Iterable<number> {
    return this.windows.keys();
  }
  entries(start: number): Entry[] {
    return [...(this.windows.get(start)?.values() ?? [])];
  }
  drop(start: number): void {
    this.windows.delete(start);
  }
  snapshot(): Snapshot['windows'] {
    return [...this.windows].map(([start, byKey]) => [start, [...byKey].map(([k, e]) => [k, e.key, e.accs, e.fired] as [string, unknown, unknown[], boolean])] as [number, [string, unknown, unknown[], boolean][]]);
  }
  restore(windows: Snapshot['windows']): void {
    if (windows.some((w) => typeof w === 'number')) {
      throw new StateMismatchError('the checkpoint keeps this window operator\'s entries in LMDB: run the pipeline with state \'lmdb\'');
    }
    this.windows = new Map((windows as Extract<Snapshot['windows'], [number, unknown][]>).map(([start, entries]) => [start,
      new Map(entries.map(([k, key, accs, fired]) => [k, { key, start, accs, fired: fired ?? false, dirty: false }]))]));
  }
}

/** An entry as a state table holds it. */
const entryCodec: StateCodec<Entry> = {
  encode: (e) => ({ key: e.key, start: e.start, accs: e.accs, fired: e.fired }) as unknown as JsonValue,
  decode: (j) => ({ ...(j as unknown as Omit<Entry, 'dirty'>), dirty: false }),
};

/**
 * Entries in a table of the task's state backend (LMDB: on disk, checkpoints hold the changes), keyed
 * `start NUL keyString`; the heap holds only the starts of the open windows.
 */
class TableWindowEntries implements WindowEntries {
  private open = new Set<number>();
  constructor(private readonly table: StateTable<Entry>) {}
  get(start: number, k: string): Entry | undefined {
    return this.table.get(`${start}\u0000${k}`);
  }
  add(start: number, k: string, entry: Entry): void {
    this.open.add(start);
    this.table.put(`${start}\u0000${k}`, entry);
  }
  touch(start: number, k: string, entry: Entry): void {
    this.table.put(`${start}\u0000${k}`, entry);
  }
  has(start: number): boolean {
    return this.open.has(start);
  }
  starts(): Iterable<number> {
    return this.open;
  }
  entries(start: number): Entry[] {
    return [...this.table.scan(`${start}\u0000`)].map(([, e]) => e);
  }
  drop(start: number): void {
    for (const [k] of [...this.table.scan(`${start}\u0000`)]) this.table.delete(k);
    this.open.delete(start);
  }
  snapshot(): Snapshot['windows'] {
    return [...this.open];
  }
  restore(windows: Snapshot['windows']): void {
    this.open = new Set();
    for (const w of windows) {
      if (typeof w === 'number') this.open.add(w);
      else for (const [k, key, accs, fired] of w[1]) this.add(w[0], k, { key, start: w[0], accs, fired: fired ?? false, dirty: false }); // a checkpoint of entries in the heap
    }
  }
}

/**
 * Keyed aggregation over fixed event-time windows (tumbling and hopping). A window `[start, end)`
 * fires when the watermark reaches `end − 1` and is dropped when it passes `end − 1 + allowedLateness`;
 * an event whose windows are all dropped is late.
 */
export class TimeWindowOperator extends WindowOperatorBase {
  private readonly windows: WindowEntries;
  private dirty: Entry[] = [];
  /** The watermark at which something fires or closes next. */
  private nextEvent = Infinity;

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: TumblingWindow | HoppingWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
    /**
     * `'partials'`: the input is not events but {@link WindowPartial}s, the accumulators of one key and
     * window that a task of a parallel run gathered before its exchange (`parallel/combine.ts`).
     */
    private readonly input: 'events' | 'partials' = 'events',
    /** With an LMDB backend the entries live in its table (state larger than memory); otherwise in the heap. */
    state?: StateBackend) {
    super(id, out, late, options, aggregates);
    this.windows = state?.kind === 'lmdb' ? new TableWindowEntries(state.table(`${id}/windows`, entryCodec)) : new HeapWindowEntries();
  }

  protected accept(e: Element): boolean {
    if (this.input === 'partials') return this.acceptPartial(e);
    const { size } = this.spec;
    const { allowedLateness } = this.options;
    let accepted = false;
    // The windows containing e.ts without an array, and the key's string once: this runs per event and window.
    const slide = windowSlide(this.spec);
    const last = lastWindowStart(e.ts, slide);
    let k: string | undefined;
    for (let start = last - size + slide; start <= last; start += slide) {
      const lastTs = start + size - 1;
      if (lastTs + allowedLateness <= this.lateWm) continue;
      accepted = true;
      this.opening(start, lastTs);
      k ??= keyString(e.key);
      let entry = this.windows.get(start, k);
      if (entry === undefined) {
        entry = { key: e.key, start, accs: this.aggs.create(), fired: false, dirty: false };
        this.aggs.add(entry.accs, e.value);
        this.windows.add(start, k, entry);
      } else {
        this.aggs.add(entry.accs, e.value);
        this.windows.touch(start, k, entry);
      }
      this.changed(entry, lastTs);
    }
    return accepted;
  }

  /** Merges a task's accumulators for one key and window (see `parallel/combine.ts`). */
  private acceptPartial(e: Element): boolean {
    const { start, accs } = e.value as WindowPartial;
    const lastTs = start + this.spec.size - 1;
    if (lastTs + this.options.allowedLateness <= this.wm) return false;
    this.opening(start, lastTs);
    const k = keyString(e.key);
    let entry = this.windows.get(start, k);
    if (!entry) this.windows.add(start, k, (entry = { key: e.key, start, accs, fired: false, dirty: false }));
    else {
      entry.accs = this.aggs.merge(entry.accs, accs);
      this.windows.touch(start, k, entry);
    }
    this.changed(entry, lastTs);
    return true;
  }

  /** Schedules the firing of the window starting at `start` when it is new. */
  private opening(start: number, lastTs: number): void {
    if (this.windows.has(start)) return;
    const at = lastTs > this.wm ? lastTs : lastTs + this.options.allowedLateness;
    if (at < this.nextEvent) this.nextEvent = at;
  }

  /**
   * An entry changed: within the allowed lateness a fired window emits a replacement; in update mode
   * every change is emitted.
   */
  private changed(entry: Entry, lastTs: number): void {
    if (!entry.dirty && (this.options.emit === 'update' || lastTs <= this.wm)) {
      entry.dirty = true;
      this.dirty.push(entry);
    }
  }

  protected flushUpdates(): void {
    if (this.dirty.length === 0) return;
    const size = this.spec.size;
    for (const entry of this.dirty) {
      entry.dirty = false;
      entry.fired = true;
      this.pushResult(this.aggs.result(entry.key, entry.start, entry.start + size, entry.accs), entry.start + size - 1, entry.key, this.wm);
    }
    this.dirty = [];
  }

  protected fire(before: number): void {
    const wm = this.wm;
    if (wm < this.nextEvent) return;
    const size = this.spec.size;
    const lateness = this.options.allowedLateness;
    const final = this.options.emit === 'final';
    const due = [...this.windows.starts()].filter((s) => s + size - 1 <= wm).sort((a, b) => a - b);
    for (const start of due) {
      const lastTs = start + size - 1;
      const closing = lastTs + lateness <= wm;
      if (final && lastTs > before) {
        // Results carry the watermark from before this step: downstream sees them before the new time.
        for (const entry of this.windows.entries(start)) {
          if (entry.fired) continue;
          entry.fired = true;
          if (!closing) this.windows.touch(start, keyString(entry.key), entry);
          this.pushResult(this.aggs.result(entry.key, start, start + size, entry.accs), lastTs, entry.key, before);
        }
      }
      if (closing) this.windows.drop(start);
    }
    this.nextEvent = Infinity;
    for (const s of this.windows.starts()) {
      const lastTs = s + size - 1;
      const at = lastTs > wm ? lastTs : lastTs + lateness;
      if (at < this.nextEvent) this.nextEvent = at;
    }
  }

  override snapshot(): Snapshot {
    return {
      wm: this.wm,
      lateEvents: this.metrics.lateEvents,
      windows: this.windows.snapshot(),
    };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.windows.restore(s.windows);
    this.nextEvent = -Infinity; // recomputed on the next watermark step
  }
}
