import { keyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import type { StateBackend } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import { SlideAligner, windowSlide, type HoppingWindow, type TumblingWindow, type WindowOptionsResolved } from '../windows.js';
import { type Element, type Outputs } from './operator.js';
import { WindowOperatorBase } from './window-base.js';
import { currentEntryLayout, foldPanes, paneCodec, windowEntryCodec, type WindowEntry } from './fixed-window-state.js';
import { windowCells, type WindowCells } from './window-cells.js';

/** The accumulators of one key and one window gathered by one task, sent to the task that owns the key. */
export interface WindowPartial {
  start: number;
  accs: unknown[];
  /** The accumulators of one pane (a slide) of hopping windows, not of one window (see `hopping-window.ts`). */
  pane: boolean;
}

type Entry = WindowEntry;

interface Snapshot {
  wm: number;
  lateEvents: number;
  /** See `WindowCells.snapshot`; older checkpoints held entries in the heap as `[k, key, accs, fired]`. */
  windows?: JsonValue;
  /** Hopping windows' panes, from a checkpoint taken in `final` mode (see `fixed-window-state.ts`). */
  panes?: JsonValue;
}

/**
 * Keyed aggregation over fixed event-time windows (tumbling and hopping). A window `[start, end)`
 * fires when the watermark reaches `end − 1` and is dropped when it passes `end − 1 + allowedLateness`;
 * an event whose windows are all dropped is late.
 */
export class TimeWindowOperator extends WindowOperatorBase {
  private readonly windows: WindowCells<Entry>;
  private dirty: Entry[] = [];
  /** The watermark at which something fires or closes next. */
  private nextEvent = Infinity;
  private readonly aligner: SlideAligner;
  /**
   * The entry the last event went to, when the cells are objects in the heap. A window's entries are
   * dropped only once every event for it is late, so an accepted event never finds a dropped one here.
   */
  private recent: Entry | undefined;
  private readonly state: StateBackend | undefined;

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
    this.windows = windowCells(state, `${id}/windows`, windowEntryCodec);
    this.state = state;
    this.aligner = new SlideAligner(windowSlide(spec));
  }

  protected accept(e: Element): boolean {
    if (this.input === 'partials') return this.acceptPartial(e);
    const { size } = this.spec;
    const slide = this.aligner.slide;
    const last = this.aligner.startOf(e.ts);
    // Tumbling: one window, and no loop around it (this runs per event).
    if (slide === size) return this.acceptWindow(e, last);
    // Hopping: the windows containing e.ts, without an array.
    let accepted = false;
    for (let start = last - size + slide; start <= last; start += slide) if (this.acceptWindow(e, start)) accepted = true;
    return accepted;
  }

  /** Adds `e` to its key's entry of the window starting at `start`; false when that window has closed. */
  private acceptWindow(e: Element, start: number): boolean {
    const lastTs = start + this.spec.size - 1;
    if (lastTs + this.options.allowedLateness <= this.lateWm) return false;
    const recent = this.recent;
    // A string or number key is the same key whenever it is the same value (an object may have changed).
    if (recent !== undefined && recent.start === start && recent.key === e.key && (typeof e.key === 'string' || typeof e.key === 'number')) {
      // The same key and window as the event before (a global window, a burst of one key): its entry as it is.
      this.aggs.add(recent.accs, e.value);
      this.changed(recent, lastTs);
      return true;
    }
    this.opening(start, lastTs);
    const k = keyId(e.key);
    let entry = this.windows.get(start, k);
    if (this.windows.holdsObjects) this.recent = entry;
    if (entry === undefined) {
      entry = { key: e.key, start, accs: this.aggs.create(), fired: false, dirty: false };
      this.aggs.add(entry.accs, e.value);
      this.windows.add(start, k, entry);
      if (this.windows.holdsObjects) this.recent = entry;
    } else {
      this.aggs.add(entry.accs, e.value);
      this.windows.touch(start, k, entry);
    }
    this.changed(entry, lastTs);
    return true;
  }

  /** Merges a task's accumulators for one key and window (see `parallel/combine.ts`). */
  private acceptPartial(e: Element): boolean {
    const { start, accs } = e.value as WindowPartial;
    const lastTs = start + this.spec.size - 1;
    if (lastTs + this.options.allowedLateness <= this.wm) return false;
    this.opening(start, lastTs);
    const k = keyId(e.key);
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
        for (const entry of this.windows.cells(start)) {
          if (entry.fired) continue;
          entry.fired = true;
          if (!closing) this.windows.touch(start, keyId(entry.key), entry);
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
    this.windows.restore(currentEntryLayout(s.windows ?? []));
    if (s.panes !== undefined && this.spec.kind === 'hopping') {
      // A hopping window that ran in `final` mode: its panes become whole-window entries.
      const panes = windowCells(this.state, `${this.id}/panes`, paneCodec);
      panes.restore(s.panes);
      foldPanes(panes, this.windows, {
        size: this.spec.size, slide: this.spec.slide, allowedLateness: this.options.allowedLateness, wm: this.wm,
        create: () => this.aggs.create(), merge: (a, b) => this.aggs.merge(a, b),
      });
    }
    this.recent = undefined;
    this.nextEvent = -Infinity; // recomputed on the next watermark step
  }
}
