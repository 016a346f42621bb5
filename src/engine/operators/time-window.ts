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
  windows: [start: number, entries: [keyString: string, key: unknown, accs: unknown[], fired: boolean][]][];
}

/**
 * Keyed aggregation over fixed event-time windows (tumbling and hopping). A window `[start, end)`
 * fires when the watermark reaches `end − 1` and is dropped when it passes `end − 1 + allowedLateness`;
 * an event whose windows are all dropped is late.
 */
export class TimeWindowOperator extends WindowOperatorBase {
  /** start → (key string → entry). */
  private windows = new Map<number, Map<string, Entry>>();
  private dirty: Entry[] = [];
  /** The watermark at which something fires or closes next. */
  private nextEvent = Infinity;

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: TumblingWindow | HoppingWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
    /**
     * `'partials'`: the input is not events but {@link WindowPartial}s, the accumulators of one key and
     * window that a task of a parallel run gathered before its exchange (`parallel/combine.ts`).
     */
    private readonly input: 'events' | 'partials' = 'events') {
    super(id, out, late, options, aggregates);
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
      const byKey = this.window(start, lastTs);
      k ??= keyString(e.key);
      let entry = byKey.get(k);
      if (!entry) {
        entry = { key: e.key, start, accs: this.aggs.create(), fired: false, dirty: false };
        byKey.set(k, entry);
      }
      this.aggs.add(entry.accs, e.value);
      this.changed(entry, lastTs);
    }
    return accepted;
  }

  /** Merges a task's accumulators for one key and window (see `parallel/combine.ts`). */
  private acceptPartial(e: Element): boolean {
    const { start, accs } = e.value as WindowPartial;
    const lastTs = start + this.spec.size - 1;
    if (lastTs + this.options.allowedLateness <= this.wm) return false;
    const byKey = this.window(start, lastTs);
    const k = keyString(e.key);
    let entry = byKey.get(k);
    if (!entry) {
      entry = { key: e.key, start, accs, fired: false, dirty: false };
      byKey.set(k, entry);
    } else entry.accs = this.aggs.merge(entry.accs, accs);
    this.changed(entry, lastTs);
    return true;
  }

  /** The entries of the window starting at `start`, created (and its firing scheduled) when new. */
  private window(start: number, lastTs: number): Map<string, Entry> {
    let byKey = this.windows.get(start);
    if (!byKey) {
      byKey = new Map();
      this.windows.set(start, byKey);
      const at = lastTs > this.wm ? lastTs : lastTs + this.options.allowedLateness;
      if (at < this.nextEvent) this.nextEvent = at;
    }
    return byKey;
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
    const due = [...this.windows.keys()].filter((s) => s + size - 1 <= wm).sort((a, b) => a - b);
    for (const start of due) {
      const byKey = this.windows.get(start)!;
      const lastTs = start + size - 1;
      if (final && lastTs > before) {
        // Results carry the watermark from before this step: downstream sees them before the new time.
        for (const entry of byKey.values()) {
          if (entry.fired) continue;
          entry.fired = true;
          this.pushResult(this.aggs.result(entry.key, start, start + size, entry.accs), lastTs, entry.key, before);
        }
      }
      if (lastTs + lateness <= wm) this.windows.delete(start);
    }
    this.nextEvent = Infinity;
    for (const s of this.windows.keys()) {
      const lastTs = s + size - 1;
      const at = lastTs > wm ? lastTs : lastTs + lateness;
      if (at < this.nextEvent) this.nextEvent = at;
    }
  }

  override snapshot(): Snapshot {
    return {
      wm: this.wm,
      lateEvents: this.metrics.lateEvents,
      windows: [...this.windows].map(([start, byKey]) => [start, [...byKey].map(([k, e]) => [k, e.key, e.accs, e.fired])]),
    };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.windows = new Map(s.windows.map(([start, entries]) => [start,
      new Map(entries.map(([k, key, accs, fired]) => [k, { key, start, accs, fired: fired ?? false, dirty: false }]))]));
    this.nextEvent = -Infinity; // recomputed on the next watermark step
  }
}
