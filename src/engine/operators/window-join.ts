import { keyId, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateCodec } from '../../state/state-backend.js';
import { SlideAligner, windowSlide, type HoppingWindow, type TumblingWindow } from '../windows.js';
import { windowCells, type WindowCells } from './window-cells.js';
import { Chained, InputWatermarks, LateEvents, type Element, type OperatorMetrics, type Outputs, type PushInput } from './operator.js';

interface Cell {
  key: unknown;
  left: unknown[];
  right: unknown[];
}

const cellCodec: StateCodec<Cell> = { encode: (c) => c as unknown as JsonValue, decode: (j) => j as unknown as Cell };

interface Snapshot {
  wm: number;
  lateEvents: number;
  /** See `WindowCells.snapshot`. */
  windows: JsonValue;
}

/**
 * Joins two keyed streams per event-time window: when a window fires, every pair of a left and a
 * right event of one key in it is joined (an inner join: a key with events on one side only gives
 * nothing). Results have the window's last instant as their time. Events whose windows all fired are late.
 */
export class WindowJoinOperator extends Chained implements PushInput {
  private wm = -Infinity;
  private readonly inputWms = new InputWatermarks(2);
  /** Each window's events per key: in the heap, or with LMDB in a table (on disk). */
  private readonly cells: WindowCells<Cell>;
  private nextFire = Infinity;
  private readonly aligner: SlideAligner;
  /** Late events of the current batch. */
  private readonly lateEvents: LateEvents;
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Outputs, late: Outputs, private readonly spec: TumblingWindow | HoppingWindow,
    private readonly join: (left: unknown, right: unknown, window: { start: number; end: number }) => unknown,
    state: StateBackend = new MemoryStateBackend()) {
    super(id, out);
    this.cells = windowCells(state, `${id}/cells`, cellCodec);
    this.aligner = new SlideAligner(windowSlide(spec));
    this.lateEvents = new LateEvents(late);
  }

  process(batch: Element[], input: number): void {
    for (const e of batch) this.push(e.value, e.ts, e.key, e.wm, input);
    this.endBatch();
  }

  /** One event of input `input` (see {@link PushInput}). */
  push(value: unknown, ts: number, key: unknown, wm: number, input: number): void {
    // Late by the watermark the event arrived under (the operator's own may lag behind it).
    const closed = wm > this.wm ? wm : this.wm;
    let accepted = false;
    const { size } = this.spec;
    const slide = this.aligner.slide;
    const last = this.aligner.startOf(ts);
    let k: KeyId | undefined;
    for (let start = last - size + slide; start <= last; start += slide) {
      const lastTs = start + size - 1;
      if (lastTs <= closed) continue;
      accepted = true;
      if (!this.cells.has(start) && lastTs < this.nextFire) this.nextFire = lastTs;
      k ??= keyId(key);
      const cell = this.cells.get(start, k);
      if (cell) {
        (input === 0 ? cell.left : cell.right).push(value);
        this.cells.touch(start, k, cell);
      } else {
        this.cells.add(start, k, input === 0 ? { key, left: [value], right: [] } : { key, left: [], right: [value] });
      }
    }
    if (!accepted) {
      this.metrics.lateEvents++;
      this.lateEvents.add(value, ts, key, wm);
    }
  }

  /** Sends the late events since the last call to the late output. */
  endBatch(): void {
    this.lateEvents.flush();
  }

  override watermark(wm: number, input = 0): void {
    const w = this.inputWms.seen(input, wm);
    if (w > this.wm) this.advance(w);
    super.watermark(this.wm);
  }

  private advance(wm: number): void {
    const before = this.wm;
    this.wm = wm;
    if (wm < this.nextFire) return;
    const size = this.spec.size;
    const due = [...this.cells.starts()].filter((s) => s + size - 1 <= wm).sort((a, b) => a - b);
    const results: Element[] = [];
    for (const start of due) {
      const window = { start, end: start + size };
      for (const cell of this.cells.cells(start)) {
        for (const l of cell.left) for (const r of cell.right) results.push({ value: this.join(l, r, window), ts: start + size - 1, key: cell.key, wm: before });
      }
      this.cells.drop(start);
    }
    this.nextFire = Infinity;
    for (const s of this.cells.starts()) this.nextFire = Math.min(this.nextFire, s + size - 1);
    this.emit(results);
  }

  override snapshot(): Snapshot {
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, windows: this.cells.snapshot() };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.inputWms.all(this.wm);
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.cells.restore(s.windows);
    this.nextFire = -Infinity;
  }
}
