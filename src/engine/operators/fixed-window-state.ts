import { keyId, type KeyId } from '../../state/key-id.js';
import type { JsonValue } from '../../core/record.js';
import type { StateCodec } from '../../state/state-backend.js';
import type { WindowCells } from './window-cells.js';

/**
 * What the operators of fixed windows (tumbling and hopping) keep, in one layout both read, so that a
 * checkpoint of either restores into the other when a pipeline changes its emit mode: hopping windows
 * in `final` mode keep panes (`hopping-window.ts`), everything else whole-window entries
 * (`time-window.ts`).
 */

/** One key's accumulators over one whole window (table `<operator>/windows`). */
export interface WindowEntry {
  key: unknown;
  start: number;
  accs: unknown[];
  /** A result for this window and key went out (it fired, or `update` mode emitted it). */
  fired: boolean;
  /** Changed since its last result and waiting in the dirty list. */
  dirty: boolean;
}

/** A window entry as checkpoints and state tables hold it. */
export const windowEntryCodec: StateCodec<WindowEntry> = {
  encode: (e) => ({ key: e.key, start: e.start, accs: e.accs, fired: e.fired }) as unknown as JsonValue,
  decode: (j) => ({ ...(j as unknown as Omit<WindowEntry, 'dirty'>), dirty: false }),
};

/** A checkpoint's window entries in today's form: heap entries once written as `[k, key, accs, fired]` become encoded entries. */
export function currentEntryLayout(windows: JsonValue): JsonValue {
  return (windows as unknown[]).map((w) => {
    if (typeof w === 'number') return w;
    const [start, rows] = w as [number, unknown[][]];
    return [start, rows.map((r) => (r.length === 2 ? r : [r[0], windowEntryCodec.encode({ key: r[1], start, accs: r[2] as unknown[], fired: (r[3] as boolean | undefined) ?? false, dirty: false })]))];
  }) as JsonValue;
}

/** One key's accumulators over one pane — `slide` ms of a hopping window (table `<operator>/panes`). */
export interface PaneCell {
  key: unknown;
  /** `keyId(key)`; not stored. */
  k: KeyId;
  accs: unknown[];
}

export const paneCodec: StateCodec<PaneCell> = {
  encode: (c) => ({ key: c.key, accs: c.accs }) as unknown as JsonValue,
  decode: (j) => {
    const o = j as unknown as PaneCell;
    return { key: o.key, k: keyId(o.key), accs: o.accs };
  },
};

/** What a fold of panes into window entries needs to know of the operator. */
export interface PaneFold {
  size: number;
  slide: number;
  allowedLateness: number;
  /** The restored watermark: windows it closed are left out, windows it reached have fired. */
  wm: number;
  create(): unknown[];
  merge(a: unknown[], b: unknown[]): unknown[];
}

/**
 * Turns a pane checkpoint into whole-window entries (a hopping window that switched from `final` to
 * `update`): each pane's accumulators are merged into every open window that contains it, and the panes
 * are dropped. Each entry gets accumulators of its own (`merge` returns new ones).
 */
export function foldPanes(panes: WindowCells<PaneCell>, windows: WindowCells<WindowEntry>, f: PaneFold): void {
  for (const p of [...panes.starts()]) {
    for (const cell of panes.cells(p)) {
      for (let start = p - f.size + f.slide; start <= p; start += f.slide) {
        const lastTs = start + f.size - 1;
        if (lastTs + f.allowedLateness <= f.wm) continue;
        const entry = windows.get(start, cell.k);
        if (entry === undefined) {
          windows.add(start, cell.k, { key: cell.key, start, accs: f.merge(f.create(), cell.accs), fired: lastTs <= f.wm, dirty: false });
        } else {
          entry.accs = f.merge(entry.accs, cell.accs);
          entry.fired ||= lastTs <= f.wm;
          windows.touch(start, cell.k, entry);
        }
      }
    }
    panes.drop(p);
  }
}
