import { keyId, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import type { StateBackend } from '../../state/state-backend.js';
import type { Aggregate } from '../aggregates.js';
import { SlideAligner, type HoppingWindow, type WindowOptionsResolved } from '../windows.js';
import { type Element, type Outputs } from './operator.js';
import type { WindowPartial } from './time-window.js';
import { WindowOperatorBase } from './window-base.js';
import { currentEntryLayout, paneCodec, windowEntryCodec, type PaneCell, type WindowEntry } from './fixed-window-state.js';
import { windowCells, type WindowCells } from './window-cells.js';

interface Snapshot {
  wm: number;
  lateEvents: number;
  panes?: JsonValue;
  /** Whole-window entries: from checkpoints before panes or in `update` mode, and events judged by a later watermark than the operator's. */
  windows?: JsonValue;
}

/**
 * Hopping windows that emit final results, kept as panes (Flink's window slicing): an event is added
 * to the one pane of `slide` ms it falls into, not to each of the `size / slide` windows that contain
 * it, and a window's result merges its panes' accumulators when it fires. A window of an hour sliding
 * every minute then costs one accumulator update per event instead of sixty.
 *
 * A window `[start, start + size)` fires when the watermark reaches `end − 1` and is dropped when it
 * passes `end − 1 + allowedLateness`; an event within the allowed lateness of a fired window emits
 * that window's result again. A pane is dropped with the last window that contains it.
 *
 * Whole-window entries (`extra`, in `time-window.ts`'s layout) hold what panes cannot: windows
 * restored from checkpoints taken before panes or in `update` mode, and an event whose own watermark
 * has closed some of its windows while the operator's has not (a task of a split pipeline keeps time
 * by its input edges) — added to its open windows only. A window's result merges both. A checkpoint
 * restored by a `TimeWindowOperator` (the pipeline switched to `update`) folds the panes into entries.
 */
export class HoppingWindowOperator extends WindowOperatorBase {
  private readonly panes: WindowCells<PaneCell>;
  private readonly extra: WindowCells<WindowEntry>;
  private readonly size: number;
  private readonly slide: number;
  private readonly aligner: SlideAligner;
  /** (window start, key id) pairs changed after their window fired: a replacement result is due. */
  private dirty = new Map<string, [start: number, k: KeyId, key: unknown]>();
  /** The watermark at which a window fires or closes next. */
  private nextEvent = Infinity;

  constructor(id: string, out: Outputs, late: Outputs, spec: HoppingWindow, options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>, state?: StateBackend,
    /**
     * `'partials'`: the input is not events but {@link WindowPartial}s — the accumulators of one key
     * over a pane or a window that a task of a parallel run gathered before its exchange
     * (`parallel/combine.ts`).
     */
    private readonly input: 'events' | 'partials' = 'events') {
    super(id, out, late, options, aggregates);
    this.size = spec.size;
    this.slide = spec.slide;
    this.aligner = new SlideAligner(spec.slide);
    this.panes = windowCells(state, `${id}/panes`, paneCodec);
    this.extra = windowCells(state, `${id}/windows`, windowEntryCodec);
  }

  protected accept(e: Element): boolean {
    if (this.input === 'partials') return this.acceptPartial(e);
    const { size, slide } = this;
    const lateness = this.options.allowedLateness;
    const pane = this.aligner.startOf(e.ts);
    // Late: even the last window containing the event (it starts at the pane) has closed.
    if (pane + size - 1 + lateness <= this.lateWm) return false;
    const k = keyId(e.key);
    let whole = true;
    if (this.lateWm > this.wm) {
      for (let s = pane - size + slide; s < pane; s += slide) {
        const closeAt = s + size - 1 + lateness;
        if (closeAt <= this.lateWm && closeAt > this.wm) whole = false;
      }
    }
    if (whole) this.addToPane(pane, k, e);
    for (let s = pane - size + slide; s <= pane; s += slide) {
      const lastTs = s + size - 1;
      if (lastTs + lateness <= this.lateWm) continue;
      if (!whole) this.addToWindow(s, k, e);
      // A window that fired already emits its result again.
      if (lastTs <= this.wm) this.dirty.set(`${s}\u0000${k}`, [s, k, e.key]);
      const at = lastTs > this.wm ? lastTs : lastTs + lateness;
      if (at < this.nextEvent) this.nextEvent = at;
    }
    return true;
  }

  /** Merges a task's accumulators for one key and pane or window (never late: see `parallel/combine.ts`). */
  private acceptPartial(e: Element): boolean {
    const { start, accs, pane } = e.value as WindowPartial;
    const { size, slide } = this;
    const lateness = this.options.allowedLateness;
    const k = keyId(e.key);
    const cells: WindowCells<PaneCell | WindowEntry> = pane ? this.panes : this.extra;
    const cell = cells.get(start, k);
    if (cell === undefined) {
      cells.add(start, k, pane ? { key: e.key, k, accs } : { key: e.key, start, accs, fired: false, dirty: false });
    } else {
      cell.accs = this.aggs.merge(cell.accs, accs);
      cells.touch(start, k, cell);
    }
    for (let s = pane ? start - size + slide : start; s <= start; s += slide) {
      const lastTs = s + size - 1;
      if (lastTs + lateness <= this.wm) continue;
      if (lastTs <= this.wm) this.dirty.set(`${s}\u0000${k}`, [s, k, e.key]);
      const at = lastTs > this.wm ? lastTs : lastTs + lateness;
      if (at < this.nextEvent) this.nextEvent = at;
    }
    return true;
  }

  private addToPane(pane: number, k: KeyId, e: Element): void {
    const cell = this.panes.get(pane, k);
    if (cell === undefined) {
      const accs = this.aggs.create();
      this.aggs.add(accs, e.value);
      this.panes.add(pane, k, { key: e.key, k, accs });
    } else {
      this.aggs.add(cell.accs, e.value);
      this.panes.touch(pane, k, cell);
    }
  }

  private addToWindow(start: number, k: KeyId, e: Element): void {
    const entry = this.extra.get(start, k);
    if (entry === undefined) {
      const accs = this.aggs.create();
      this.aggs.add(accs, e.value);
      this.extra.add(start, k, { key: e.key, start, accs, fired: false, dirty: false });
    } else {
      this.aggs.add(entry.accs, e.value);
      this.extra.touch(start, k, entry);
    }
  }

  /** A result for the window and key went out: its whole-window entry, if any, records it (for a switch to `update` mode). */
  private sent(start: number, k: KeyId): void {
    const entry = this.extra.get(start, k);
    if (entry === undefined || entry.fired) return;
    entry.fired = true;
    this.extra.touch(start, k, entry);
  }

  protected flushUpdates(): void {
    if (this.dirty.size === 0) return;
    for (const [start, k, key] of this.dirty.values()) {
      const accs = this.merged(start, k);
      if (accs === undefined) continue;
      this.pushResult(this.aggs.result(key, start, start + this.size, accs), start + this.size - 1, key, this.wm);
      this.sent(start, k);
    }
    this.dirty = new Map();
  }

  /** One key's accumulators over the window starting at `start`: its panes and whole-window cell merged. */
  private merged(start: number, k: KeyId): unknown[] | undefined {
    let accs = this.extra.get(start, k)?.accs;
    for (let p = start; p < start + this.size; p += this.slide) {
      const cell = this.panes.get(p, k);
      if (cell !== undefined) accs = accs === undefined ? cell.accs : this.aggs.merge(accs, cell.accs);
    }
    return accs;
  }

  /** Window starts that hold events: every window of every pane, and the whole-window cells'. */
  private windowStarts(): number[] {
    const starts = new Set<number>(this.extra.starts());
    for (const p of this.panes.starts()) for (let s = p - this.size + this.slide; s <= p; s += this.slide) starts.add(s);
    return [...starts].sort((a, b) => a - b);
  }

  protected fire(before: number): void {
    const wm = this.wm;
    if (wm < this.nextEvent) return;
    const { size } = this;
    const lateness = this.options.allowedLateness;
    for (const start of this.windowStarts()) {
      const lastTs = start + size - 1;
      if (lastTs > wm) break;
      // Results carry the watermark from before this step: downstream sees them before the new time.
      if (lastTs > before) this.fireWindow(start, lastTs, before);
      if (lastTs + lateness <= wm) this.extra.drop(start);
    }
    // A pane goes with the last window that contains it: the one starting at the pane.
    for (const p of [...this.panes.starts()]) if (p + size - 1 + lateness <= wm) this.panes.drop(p);
    this.nextEvent = Infinity;
    for (const s of this.windowStarts()) {
      const lastTs = s + size - 1;
      const at = lastTs > wm ? lastTs : lastTs + lateness;
      // Windows of a kept pane that closed already (the pane stays for the later windows) are no event.
      if (at > wm && at < this.nextEvent) this.nextEvent = at;
    }
  }

  /** Every key's result for one window: its panes merged, in order of first appearance. */
  private fireWindow(start: number, lastTs: number, before: number): void {
    const byKey = new Map<KeyId, PaneCell>();
    const gather = (key: unknown, k: KeyId, accs: unknown[]) => {
      const seen = byKey.get(k);
      if (seen === undefined) byKey.set(k, { key, k, accs });
      else seen.accs = this.aggs.merge(seen.accs, accs);
    };
    for (const entry of this.extra.cells(start)) {
      const k = keyId(entry.key);
      gather(entry.key, k, entry.accs);
      this.sent(start, k);
    }
    for (let p = start; p <= lastTs; p += this.slide) for (const c of this.panes.cells(p)) gather(c.key, c.k, c.accs);
    for (const c of byKey.values()) this.pushResult(this.aggs.result(c.key, start, start + this.size, c.accs), lastTs, c.key, before);
  }

  override snapshot(): Snapshot {
    const s: Snapshot = { wm: this.wm, lateEvents: this.metrics.lateEvents, panes: this.panes.snapshot() };
    const windows = this.extra.snapshot();
    if ((windows as unknown[]).length > 0) s.windows = windows;
    return s;
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.panes.restore(s.panes ?? []);
    this.extra.restore(currentEntryLayout(s.windows ?? []));
    this.nextEvent = -Infinity; // recomputed on the next watermark step
  }
}
