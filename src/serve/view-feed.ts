import type { Log } from '../log/log.js';
import type { FrameSink, GatewayStats } from './outlet.js';
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
  outlet: FrameSink;
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
 * the view's topic; `undefined` when the client's positions cannot be resumed from: another partition
 * count, positions the view has not reached, or records missing after them — removed by retention, or
 * by compaction, which may have dropped the tombstone of a row the client holds (offsets have no holes
 * otherwise). Also `undefined` when the client is further behind than the view has rows: a snapshot
 * is then the cheaper answer.
 */
async function changesSince(log: Log, view: View, from: number[], to: number[], signal: AbortSignal): Promise<ViewChange[] | undefined> {
  if (from.length !== to.length || from.some((o, p) => o > to[p]!)) return undefined;
  if (from.reduce((n, o, p) => n + to[p]! - o, 0) > Math.max(view.size, 1000)) return undefined;
  const latest = new Map<string, ViewChange>();
  for (let p = 0; p < to.length; p++) {
    for (let at = from[p]!; at < to[p]!;) {
      if (signal.aborted) return undefined;
      const records = await log.read(view.name, p, at, Math.min(1000, to[p]! - at));
      if (records.length === 0) return undefined;
      for (const r of records) {
        if (r.offset !== at) return undefined;
        at++;
        if (r.key === null) continue;
        latest.delete(r.key);
        latest.set(r.key, r.value === null
          ? { key: r.key, deleted: true, partition: r.partition, offset: r.offset, timestamp: r.timestamp }
          : { key: r.key, value: r.value, partition: r.partition, offset: r.offset, timestamp: r.timestamp });
        if (at === to[p]) break;
      }
    }
  }
  return [...latest.values()];
}

/**
 * Serves one view subscription (docs/protocol.md, "View"): the rows as of one position of the view's
 * topic — a snapshot in frames of `batch` rows, or, for a client resuming from positions it holds,
 * only the changes since them — then changes as the view applies them. Changes wait, conflated by key
 * (the latest change of a key replaces the one before), while the snapshot is being sent and while
 * the connection's send buffer is over its bound, and go out a frame at a time as it drains: a slow
 * client costs at most the bound plus one frame of buffer and one entry per key. With policy
 * `disconnect`, a buffer over the bound closes the connection instead.
 */
export async function followView(view: View, request: ViewFeedRequest, deps: ViewFeedDeps, signal: AbortSignal): Promise<void> {
  const { id } = request;
  const { outlet, stats, batch } = deps;
  const disconnect = request.flow === 'disconnect';
  const shown = changeFilter(request.filter);
  const pending = new Map<string, ViewChange>();
  let catchingUp = true;
  let flushing = false;

  /** Waits for room in the send buffer (or, with `disconnect`, closes when there is none); false when the subscription is over. */
  const paced = async (): Promise<boolean> => {
    if (disconnect && outlet.full()) {
      outlet.disconnectSlow(id);
      return false;
    }
    await outlet.drained(signal);
    return !signal.aborted && outlet.open();
  };
  /** One frame of changes; `last`: the client's rows then equal the view at the positions it carries. */
  const sendChanges = (changes: ViewChange[], last: boolean) => {
    outlet.send({ type: 'changes', id, changes, ...(last ? { positions: view.position(), watermark: view.watermark() } : {}) });
  };
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (pending.size > 0) {
        if ((outlet.full() || !outlet.open() || signal.aborted) && !(await paced())) return;
        const frame: ViewChange[] = [];
        for (const [key, change] of pending) {
          frame.push(change);
          pending.delete(key);
          if (frame.length === batch) break;
        }
        sendChanges(frame, pending.size === 0);
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
    if (catchingUp || flushing || pending.size > 0) return hold(out);
    // Frames go out while the buffer has room; what does not fit waits its turn, conflated.
    let i = 0;
    for (; i < out.length && !outlet.full(); i += batch) sendChanges(out.slice(i, i + batch), i + batch >= out.length);
    if (i >= out.length) return;
    if (disconnect) return outlet.disconnectSlow(id);
    hold(out.slice(i));
  });
  signal.addEventListener('abort', remove, { once: true });

  const since = request.from ? await changesSince(deps.log, view, request.from.offsets, start, signal) : undefined;
  if (signal.aborted) return;
  if (since) {
    outlet.send({ type: 'resumed', id, view: view.name, positions: start, watermark });
    // Older than any change the listener holds: a key's newer change, when there is one, wins.
    for (const c of shown(since)) if (!pending.has(c.key)) pending.set(c.key, c);
  } else {
    const passes = compileFilter(request.filter);
    const visible: ViewRow[] = passes ? rows.filter((r) => passes(r.key, r.value)) : rows;
    let part = 0;
    for (let i = 0; i === 0 || i < visible.length; i += batch) {
      if (i > 0 && !(await paced())) return;
      const done = i + batch >= visible.length;
      outlet.send({ type: 'snapshot', id, view: view.name, part: part++, done, rows: visible.slice(i, i + batch), positions: start, watermark });
    }
  }
  catchingUp = false;
  await flush();
}
