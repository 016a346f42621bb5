import { MemoryStateBackend } from '../../state/memory-backend.js';
import type { StateBackend, StateTable } from '../../state/state-backend.js';
import { windowStarts, type HoppingWindow, type TumblingWindow } from '../windows.js';
import { Chained, InputWatermarks, keyString, type Element, type OperatorMetrics, type Outputs } from './operator.js';

interface Cell {
  key: unknown;
  left: unknown[];
  right: unknown[];
}

interface Snapshot {
  wm: number;
  lateEvents: number;
  /** The open windows' starts (their cells are in the state backend), or, in checkpoints from before, the cells. */
  windows: number[] | [start: number, cells: [string, Cell][]][];
}

/**
 * Joins two keyed streams per event-time window: when a window fires, every pair of a left and a
 * right event of one key in it is joined (an inner join: a key with events on one side only gives
 * nothing). Results have the window's last instant as their time. Events whose windows all fired are late.
 */
export class WindowJoinOperator extends Chained {
  private wm = -Infinity;
  private readonly inputWms = new InputWatermarks(2);
  /** Cells by `start NUL keyString`, in the state backend (with LMDB: on disk). */
  private readonly cells: StateTable<Cell>;
  /** The starts of the windows holding cells. */
  private open = new Set<number>();
  private nextFire = Infinity;
  readonly metrics: OperatorMetrics = { lateEvents: 0 };

  constructor(id: string, out: Outputs, private readonly late: Outputs, private readonly spec: TumblingWindow | HoppingWindow,
    private readonly join: (left: unknown, right: unknown, window: { start: number; end: number }) => unknown,
    state: StateBackend = new MemoryStateBackend()) {
    super(id, out);
    this.cells = state.table(`${id}/cells`);
  }

  process(batch: Element[], input: number): void {
    let lateBatch: Element[] | undefined;
    for (const e of batch) {
      // Late by the watermark the event arrived under (the operator's own may lag behind it).
      const closed = e.wm > this.wm ? e.wm : this.wm;
      let accepted = false;
      for (const start of windowStarts(this.spec, e.ts)) {
        const lastTs = start + this.spec.size - 1;
        if (lastTs <= closed) continue;
        accepted = true;
        if (!this.open.has(start)) {
          this.open.add(start);
          if (lastTs < this.nextFire) this.nextFire = lastTs;
        }
        const id = `${start}\u0000${keyString(e.key)}`;
        const cell = this.cells.get(id) ?? { key: e.key, left: [], right: [] };
        (input === 0 ? cell.left : cell.right).push(e.value);
        this.cells.put(id, cell);
      }
      if (!accepted) {
        this.metrics.lateEvents++;
        (lateBatch ??= []).push(e);
      }
    }
    if (lateBatch && this.late.length > 0) for (const o of this.late) o.op.process(lateBatch, o.input);
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
    const due = [...this.open].filter((s) => s + size - 1 <= wm).sort((a, b) => a - b);
    const results: Element[] = [];
    for (const start of due) {
      const window = { start, end: start + size };
      const cells = [...this.cells.scan(`${start}\u0000`)];
      for (const [id, cell] of cells) {
        for (const l of cell.left) for (const r of cell.right) results.push({ value: this.join(l, r, window), ts: start + size - 1, key: cell.key, wm: before });
        this.cells.delete(id);
      }
      this.open.delete(start);
    }
    this.nextFire = Infinity;
    for (const s of this.open) this.nextFire = Math.min(this.nextFire, s + size - 1);
    this.emit(results);
  }

  override snapshot(): Snapshot {
    return { wm: this.wm, lateEvents: this.metrics.lateEvents, windows: [...this.open] };
  }

  override restore(state: unknown): void {
    const s = state as Snapshot;
    this.wm = s.wm ?? -Infinity;
    this.inputWms.all(this.wm);
    this.metrics.lateEvents = s.lateEvents ?? 0;
    this.open = new Set();
    for (const w of s.windows) {
      if (typeof w === 'number') this.open.add(w);
      else {
        // A checkpoint from before the cells lived in the state backend: they move into it.
        this.open.add(w[0]);
        for (const [k, cell] of w[1]) this.cells.put(`${w[0]}\u0000${k}`, cell);
      }
    }
    this.nextFire = -Infinity;
  }
}
