import type { Log } from '../log/log.js';
import type { GatewayStats, Outlet } from './outlet.js';
import { compileFilter, type SubscriptionFilter } from './subscription.js';
import type { View, ViewChange, ViewRow } from './views.js';

/** A view subscription's request, as the client sent it. */
export interface ViewFeedRequest {
  id: string;
  filter?: SubscriptionFilter | undefined;
  /** Positions of the view's topic the client already holds the rows of (from its last frame). */
  from?: { offsets: number[] } | undefined;
  flow: 'conflate' | 'disconnect';
}

/** What a view subscription sends through and reads from. */
export interface ViewFeedDeps {
  log: Log;
  outlet: Outlet;
  stats: GatewayStats;
  /** Rows or changes per frame. */
  batch: number;
}

/** The changes a filter lets through (rows leaving the filter become deletions), for one batch. */
function changeFilter(filter: SubscriptionFilter | undefined): (changes: ViewChange[]) => ViewChange[] {
  const passes = compileFilter(filter);
  if (!passes) return (changes) => changes;
  // A deleted row has no value: it passes when its key does (a client may hold the row it deletes).
  const keyPasses = compileFilter(filter?.keys ? { keys: filter.keys } : undefined) ?? (() => true);
  return (changes) => {
    const shown: ViewChange[] = [];
    for (const c of changes) {
      if (c.deleted) {
        if (keyPasses(c.key, null)) shown.push(c);
      } else if (passes(c.key, c.value)) {
        shown.push(c);
      } else if (keyPasses(c.key, null)) {
        // The row no longer meets the filter: for the client, it is gone (harmless if it never had it).
        shown.push({ key: c.key, deleted: true, partition: c.partition, offset: c.offset, timestamp: c.timestamp });
      }
    }
    return shown;
  };
}

/**
 * The changes between the client's positions and the view's, one per key (the latest), read back from
 * the view's topic; `undefined` when the client's positions cannot be resumed from (retention removed
 * records after them, another partition count, or positions the view has not reached).
 */
async function changesSince(log: Log, view: View, from: number[], to: number[], signal: AbortSignal): Promise<ViewChange[] | undefined> {
  const starts = log.startOffsets(view.name);
  if (from.length !== to.length || from.some((o, p) => o < starts[p]! || o > to[p]!)) return undefined;
  const latest = new Map<string, ViewChange>();
  for (let p = 0; p < to.length; p++) {
    for (let at = from[p]!; at < to[p]! && !signal.aborted;) {
      const records = await log.read(view.name, p, at, Math.min(1000, to[p]! - at));
      if (records.length === 0) break;
      for (const r of records) {
        if (r.offset >= to[p]!) break;
        if (r.key === null) continue;
        latest.delete(r.key);
        latest.set(r.key, r.value === null
          ? { key: r.key, deleted: true, partition: r.partition, offset: r.offset, timestamp: r.timestamp }
          : { key: r.key, value: r.value, partition: r.partition, offset: r.offset, timestamp: r.timestamp });
      }
      at = records.at(-1)!.offset + 1;
    }
  }
  return [...latest.values()];
}

/**
 * Serves one view subscription (docs/protocol.md, "View"): the rows as of one position of the view's
 * topic — a snapshot in frames of `batch` rows, or, for a client resuming from positions it holds,
 * only the changes since them — then changes as the view applies them. Changes that arrive while the
 * snapshot is being sent, or while the connection's send buffer is full, wait conflated by key (the
 * latest change of a key replaces the one before), so that a slow client costs at most one entry per
 * key; with policy `disconnect`, a full buffer closes the connection instead.
 */
export async function followView(view: View, request: ViewFeedRequest, deps: ViewFeedDeps, signal: AbortSignal): Promise<void> {
  const { id } = request;
  const { outlet, stats, batch } = deps;
  const shown = changeFilter(request.filter);
  const pending = new Map<string, ViewChange>();
  let catchingUp = true;
  let flushing = false;

  const sendChanges = (changes: ViewChange[]) => {
    for (let i = 0; i < changes.length; i += batch) {
      const last = i + batch >= changes.length;
      // Only after the last frame of a flush do the client's rows equal the view at these positions.
      outlet.send({ type: 'changes', id, changes: changes.slice(i, i + batch), ...(last ? { positions: view.position(), watermark: view.watermark() } : {}) });
    }
  };
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (pending.size > 0 && !signal.aborted && outlet.open()) {
        await outlet.drained(signal);
        if (signal.aborted || !outlet.open()) return;
        const changes = [...pending.values()];
        pending.clear();
        sendChanges(changes);
      }
    } finally {
      flushing = false;
    }
  };
  const hold = (changes: ViewChange[]) => {
    for (const c of changes) {
      if (pending.delete(c.key)) stats.conflatedChanges++;
      pending.set(c.key, c);
    }
    if (!catchingUp) void flush();
  };

  // The listener and the position are taken in the same turn: the view applies a batch and tells its
  // listeners synchronously, so every change after `start` reaches the listener and none before.
  const start = view.position();
  const watermark = view.watermark();
  const rows = view.rows();
  const remove = view.listen((changes) => {
    const out = shown(changes);
    if (out.length === 0) return;
    if (catchingUp || pending.size > 0 || flushing) return hold(out);
    if (outlet.full()) {
      if (request.flow === 'disconnect') return outlet.disconnectSlow(id);
      return hold(out);
    }
    sendChanges(out);
  });
  signal.addEventListener('abort', remove, { once: true });

  const since = request.from ? await changesSince(deps.log, view, request.from.offsets, start, signal) : undefined;
  if (signal.aborted) return;
  if (since) {
    outlet.send({ type: 'resumed', id, view: view.name, positions: start, watermark });
    const out = shown(since);
    for (let i = 0; i < out.length; i += batch) {
      outlet.send({ type: 'changes', id, changes: out.slice(i, i + batch), ...(i + batch >= out.length ? { positions: start } : {}) });
      await outlet.drained(signal);
    }
  } else {
    const passes = compileFilter(request.filter);
    const visible: ViewRow[] = passes ? rows.filter((r) => passes(r.key, r.value)) : rows;
    let part = 0;
    for (let i = 0; i === 0 || i < visible.length; i += batch) {
      if (signal.aborted || !outlet.open()) return;
      const done = i + batch >= visible.length;
      outlet.send({ type: 'snapshot', id, view: view.name, part: part++, done, rows: visible.slice(i, i + batch), positions: start, watermark });
      if (!done) await outlet.drained(signal);
    }
  }
  catchingUp = false;
  await flush();
}
