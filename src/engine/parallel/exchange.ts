import { fmix } from '../aggregates/murmur3.js';
import type { Element, Operator, Outputs, PushInput } from '../operators/operator.js';
import { InputWatermarks, keyString, pushTarget } from '../operators/operator.js';
import { decodeBatch, encodeBatch, TRANSFER_MIN_BYTES } from './codec.js';
import type { EventsPart, LinkPart, PartSource } from './links.js';

/**
 * The task (0 … tasks − 1) of a parallel run that owns a group key: where a `keyBy` sends the events
 * of that key. Keys hash by the string form that groups them (so `2` and `'2'`, one group, meet in
 * one task). Use it to deal an input to tasks by key (co-partitioned input: nothing then crosses at a
 * `keyBy` on that key).
 *
 * @example
 * ```ts
 * const mine = orders.filter((o) => taskForKey(o.customer, tasks) === task);
 * ```
 */
export function taskForKey(key: unknown, tasks: number): number {
  if (tasks === 1) return 0;
  const s = keyString(key);
  let h = 0x811c9dc5; // FNV-1a over UTF-16 code units
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (fmix(h) >>> 0) % tasks;
}

/** Events waiting to be sent to one task. */
interface Outgoing {
  values: unknown[];
  times: number[];
  /** The watermark each event was read under. */
  wms: number[];
  keys: unknown[];
  numericKeys: boolean;
}

/**
 * A `keyBy` of a pipeline split over several tasks: keys each event and sends it to the task that
 * owns the key (kept here when that is this task), and receives the events other tasks send it.
 *
 * Downstream of the exchange an operator sees the events of every task, so its watermark is the
 * smallest of the watermarks the tasks sent along this exchange (each task sends its own after every
 * batch): a task that reads ahead must not fire the windows that another task's events still belong
 * to. An event keeps the watermark it was read under, by which it is judged late, as in one thread
 * over its task's events; the operators of a parallel run advance only on the exchange's watermarks
 * (`EdgeTimed`).
 *
 * Outgoing events wait here until the task flushes its links ({@link take}); a watermark waiting
 * with them goes after them, so it never overtakes an event sent before it.
 */
export class ExchangeOperator implements Operator, PartSource, PushInput {
  private readonly wms: InputWatermarks;
  private readonly outgoing: Outgoing[] = [];
  /** The last watermark passed to this exchange; sent to each task at its next take. */
  private wm = -Infinity;
  private readonly wmSent: number[];
  /** Events waiting to be sent, over all tasks. */
  waiting = 0;
  /** Events sent to other tasks. */
  eventsSent = 0;
  /** The one operator after the exchange when it takes events one at a time: this task's events go straight to it. */
  private readonly target: (Operator & PushInput) | undefined;
  private readonly targetInput: number;
  /** This task's events of the current batch, for operators that take batches. */
  private local: Element[] = [];

  constructor(
    readonly id: string,
    /** The exchange's number within the pipeline, the same in every task. */
    readonly index: number,
    /** The key of an event: the `keyBy` function of its value, or the key it already has. */
    private readonly key: (value: unknown, key: unknown) => unknown,
    private readonly out: Outputs,
    private readonly links: { task: number; tasks: number },
  ) {
    const target = pushTarget(out);
    this.target = target?.op;
    this.targetInput = target?.input ?? 0;
    this.wms = new InputWatermarks(links.tasks);
    this.wmSent = new Array<number>(links.tasks).fill(-Infinity);
    for (let p = 0; p < links.tasks; p++) this.outgoing.push({ values: [], times: [], wms: [], keys: [], numericKeys: true });
  }

  /** Every task has sent its final (+∞) watermark: nothing more will arrive. */
  get finished(): boolean {
    return this.wms.value === Infinity;
  }

  process(batch: Element[]): void {
    for (const e of batch) this.push(e.value, e.ts, e.key, e.wm);
    this.endBatch();
  }

  /**
   * One event (see `PushInput`): to the operators after the exchange when this task owns its key — at
   * once to one that takes events one at a time — or into the outbox of the task that does.
   */
  push(value: unknown, ts: number, key: unknown, wm: number): void {
    const k = this.key(value, key);
    const to = taskForKey(k, this.links.tasks);
    if (to === this.links.task) {
      if (this.target !== undefined) this.target.push(value, ts, k, wm, this.targetInput);
      else this.local.push({ value, ts, key: k, wm });
      return;
    }
    const o = this.outgoing[to]!;
    o.values.push(value);
    o.times.push(ts);
    o.wms.push(wm);
    o.keys.push(k);
    if (typeof k !== 'number') o.numericKeys = false;
    this.waiting++;
  }

  /** The end of a batch of this task's events: what the operators after the exchange made of them goes on. */
  endBatch(): void {
    if (this.target !== undefined) {
      this.target.endBatch();
      return;
    }
    const local = this.local;
    if (local.length === 0) return;
    this.local = [];
    this.receive(local);
  }

  watermark(wm: number): void {
    if (wm <= this.wm) return;
    this.wm = wm;
    this.receiveWatermark(this.links.task, wm);
  }

  take(peer: number, parts: LinkPart[], transfer: ArrayBuffer[]): number {
    const o = this.outgoing[peer]!;
    const n = o.values.length;
    if (n > 0) {
      const tw = new Float64Array(o.numericKeys ? 3 * n : 2 * n);
      for (let i = 0; i < n; i++) {
        tw[i] = o.times[i]!;
        tw[n + i] = o.wms[i]!;
      }
      if (o.numericKeys) for (let i = 0; i < n; i++) tw[2 * n + i] = o.keys[i] as number;
      if (tw.byteLength >= TRANSFER_MIN_BYTES) transfer.push(tw.buffer);
      parts.push({ x: this.index, v: encodeBatch(o.values, transfer), tw, ...(o.numericKeys ? {} : { k: o.keys }) });
      // The arrays are copied into the part (the keys, when not numbers, are sent as they are).
      o.values.length = 0;
      o.times.length = 0;
      o.wms.length = 0;
      if (o.numericKeys) o.keys.length = 0;
      else o.keys = [];
      o.numericKeys = true;
      this.waiting -= n;
      this.eventsSent += n;
    }
    if (this.wm > this.wmSent[peer]!) {
      this.wmSent[peer] = this.wm;
      parts.push({ x: this.index, wm: this.wm });
    }
    return n;
  }

  /** Events another task sent on this exchange. */
  receiveRemote(part: EventsPart): void {
    const values = decodeBatch(part.v);
    const n = values.length;
    const { tw, k } = part;
    const target = this.target;
    if (target !== undefined) {
      // Straight into an operator that takes events one at a time: no element per event.
      for (let i = 0; i < n; i++) target.push(values[i], tw[i]!, k === undefined ? tw[2 * n + i] : k[i], tw[n + i]!, this.targetInput);
      target.endBatch();
      return;
    }
    const batch: Element[] = new Array(n);
    for (let i = 0; i < n; i++) batch[i] = { value: values[i], ts: tw[i]!, key: k === undefined ? tw[2 * n + i] : k[i], wm: tw[n + i]! };
    this.receive(batch);
  }

  /** A task's watermark on this exchange. */
  receiveWatermark(from: number, wm: number): void {
    const before = this.wms.value;
    const now = this.wms.seen(from, wm);
    if (now > before) for (const o of this.out) o.op.watermark(now, o.input);
  }

  tick(now: number): void {
    for (const o of this.out) o.op.tick?.(now);
  }

  /**
   * What a split task's checkpoint keeps of the exchange (see `task.ts`): the watermark it has and
   * has sent each task, and the watermarks the tasks sent it — consistent with the positions in the
   * exchange topics that the same checkpoint holds. Events waiting to be sent are in that
   * checkpoint's outputs already (a commit takes them first).
   */
  snapshot(): unknown {
    const finite = (w: number) => (Number.isFinite(w) ? w : null);
    return { wm: finite(this.wm), sent: this.wmSent.map(finite), received: this.wms.values().map(finite) };
  }

  restore(state: unknown): void {
    const s = state as { wm: number | null; sent: (number | null)[]; received: (number | null)[] } | undefined;
    if (!s) return;
    const num = (w: number | null) => w ?? -Infinity;
    this.wm = num(s.wm);
    s.sent.forEach((w, i) => { if (i < this.wmSent.length) this.wmSent[i] = num(w); });
    s.received.forEach((w, i) => this.wms.seen(i, num(w)));
  }

  private receive(batch: Element[]): void {
    if (batch.length === 0) return;
    for (const o of this.out) o.op.process(batch, o.input);
  }
}
