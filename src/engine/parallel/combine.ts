import type { Aggregate } from '../aggregates.js';
import type { GraphNode } from '../graph.js';
import type { Element, Operator, OperatorMetrics, Outputs, PushInput } from '../operators/operator.js';
import { LateEvents } from '../operators/operator.js';
import { keyId, type KeyId } from '../../state/key-id.js';
import type { WindowPartial } from '../operators/time-window.js';
import { AggregateSet } from '../operators/window-base.js';
import { SlideAligner, windowSlide, type HoppingWindow, type TumblingWindow, type WindowOptionsResolved } from '../windows.js';

/** A `window` node of the graph. */
export type WindowNode = Extract<GraphNode, { kind: 'window' }>;
/** An `aggregate` node of the graph (running aggregates per key). */
export type AggregateNode = Extract<GraphNode, { kind: 'aggregate' }>;

/** The running aggregate a `keyBy` feeds, under no other operator: it can be done in two phases. */
export function combinableAggregate(keyBy: GraphNode): AggregateNode | undefined {
  if (keyBy.children.length !== 1) return undefined;
  const a = keyBy.children[0]!;
  return a.kind === 'aggregate' ? a : undefined;
}

/**
 * The window a `keyBy` feeds, when its aggregation can be done in two phases: a tumbling or hopping
 * window (an event's windows do not depend on other events, unlike sessions or counts) that emits
 * final results only (an `update` stream would be delayed), under no other operator. Every
 * `Aggregate` merges, so any aggregates qualify.
 */
export function combinableWindow(keyBy: GraphNode): (WindowNode & { spec: TumblingWindow | HoppingWindow }) | undefined {
  if (keyBy.children.length !== 1) return undefined;
  const w = keyBy.children[0]!;
  if (w.kind !== 'window' || (w.spec.kind !== 'tumbling' && w.spec.kind !== 'hopping') || w.options.emit !== 'final') return undefined;
  return w as WindowNode & { spec: TumblingWindow | HoppingWindow };
}

interface Gathered {
  key: unknown;
  accs: unknown[];
}

/**
 * The first phase of a window aggregation split over tasks (Flink's local–global aggregation): a task
 * adds its own events into accumulators per key and window, and sends each window's accumulators to
 * the task that owns the key only when the watermark reaches the window's end — one partial per key
 * and window per task instead of every event. The owner's window operator merges them
 * (`TimeWindowOperator` with `'partials'` input) and fires as usual. Hopping windows gather per pane
 * (a slide) instead, one accumulator update per event, and send each pane as the watermark reaches its
 * end; the owner's `HoppingWindowOperator` keeps them as panes.
 *
 * Lateness is decided here, with the same rule and the same watermark as a window operator reading
 * this task's events (the watermark each event was read under): a late event goes to the late output
 * and the metric in this task. A partial is never late where it arrives: it is sent before this
 * task's watermark passes its window, and the owner's watermark is the smallest of all tasks'.
 */
export class WindowCombineOperator implements Operator, PushInput {
  readonly metrics: OperatorMetrics = { lateEvents: 0 };
  private readonly aggs: AggregateSet;
  /** start → key id → accumulators. */
  private windows = new Map<number, Map<KeyId, Gathered>>();
  /** Hopping windows: pane start → key id → accumulators (sent as the watermark reaches the pane's end). */
  private panes = new Map<number, Map<KeyId, Gathered>>();
  /** Whether events go into panes (hopping windows, merged by a `HoppingWindowOperator`). */
  private readonly byPane: boolean;
  private wm = -Infinity;
  private readonly slide: number;
  private readonly aligner: SlideAligner;
  /** Late events of the current batch. */
  private readonly lateEvents: LateEvents;

  constructor(
    readonly id: string,
    private readonly key: (v: unknown) => unknown,
    private readonly spec: TumblingWindow | HoppingWindow,
    private readonly options: WindowOptionsResolved,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
    /** Where partials go: the exchange. */
    private readonly out: Outputs,
    /** Where late events go (a sink of the late-output topic), if anywhere. */
    late: Outputs,
  ) {
    this.aggs = new AggregateSet(aggregates);
    this.slide = windowSlide(spec);
    this.aligner = new SlideAligner(this.slide);
    this.byPane = spec.kind === 'hopping';
    this.lateEvents = new LateEvents(late);
  }

  process(batch: Element[]): void {
    for (const e of batch) this.push(e.value, e.ts, e.key, e.wm);
    this.endBatch();
  }

  /** One event (see `PushInput`): added to the accumulators of its key in each of its open windows. */
  push(value: unknown, ts: number, _key: unknown, ewm: number): void {
    const { size } = this.spec;
    const slide = this.slide;
    const lateness = this.options.allowedLateness;
    // Judged by its own read watermark (or this task's, if later): after an earlier exchange, the
    // events of a task that reads ahead carry higher watermarks than this task's own events.
    const wm = ewm > this.wm ? ewm : this.wm;
    const last = this.aligner.startOf(ts);
    // Hopping windows: the event's pane, when none of its windows is closed (otherwise the open ones
    // get it as window partials, so that a closed one, not yet fired where it is owned, does not).
    if (this.byPane && last + slide - 1 + lateness > wm) {
      const key = this.key(value);
      const k = keyId(key);
      let byKey = this.panes.get(last);
      if (!byKey) this.panes.set(last, (byKey = new Map()));
      let g = byKey.get(k);
      if (!g) byKey.set(k, (g = { key, accs: this.aggs.create() }));
      this.aggs.add(g.accs, value);
      return;
    }
    let key: unknown;
    let k: KeyId | undefined;
    for (let start = last - size + slide; start <= last; start += slide) {
      if (start + size - 1 + lateness <= wm) continue;
      if (k === undefined) {
        key = this.key(value);
        k = keyId(key);
      }
      let byKey = this.windows.get(start);
      if (!byKey) {
        byKey = new Map();
        this.windows.set(start, byKey);
      }
      let g = byKey.get(k);
      if (!g) {
        g = { key, accs: this.aggs.create() };
        byKey.set(k, g);
      }
      this.aggs.add(g.accs, value);
    }
    if (k === undefined) {
      this.metrics.lateEvents++;
      this.lateEvents.add(value, ts, this.key(value), ewm);
    }
  }

  /** Sends the late events since the last call to the late output. */
  endBatch(): void {
    this.lateEvents.flush();
  }

  watermark(wm: number): void {
    if (wm > this.wm) this.wm = wm;
    this.send(wm);
    for (const o of this.out) o.op.watermark(wm, o.input);
  }

  /** Sends the partials of every window whose end the watermark `wm` has reached. */
  private send(wm: number): void {
    const size = this.spec.size;
    const partials: Element[] = [];
    for (const [start, byKey] of this.windows) {
      const lastTs = start + size - 1;
      if (lastTs > wm) continue;
      for (const g of byKey.values()) partials.push({ value: { start, accs: g.accs, pane: false } satisfies WindowPartial, ts: lastTs, key: g.key, wm });
      this.windows.delete(start);
    }
    // A pane goes when the watermark reaches its end: the first window that contains it fires then.
    for (const [start, byKey] of this.panes) {
      const paneEnd = start + this.slide - 1;
      if (paneEnd > wm) continue;
      for (const g of byKey.values()) partials.push({ value: { start, accs: g.accs, pane: true } satisfies WindowPartial, ts: paneEnd, key: g.key, wm });
      this.panes.delete(start);
    }
    if (partials.length > 0) for (const o of this.out) o.op.process(partials, o.input);
  }

  tick(now: number): void {
    for (const o of this.out) o.op.tick?.(now);
  }

  snapshot(): unknown {
    return undefined;
  }

  restore(): void {}
}

interface Running {
  key: unknown;
  accs: unknown[];
  /** Largest event time added. */
  ts: number;
  /** Smallest read watermark among the events added: a partial is as early as its earliest event. */
  wm: number;
}

/**
 * The first phase of a running aggregate split over tasks: a task adds its own events of each key
 * into accumulators and, at each watermark (after every batch), sends the owner of every key it
 * touched one partial — what the key gathered in this task since the last one. The owner merges them
 * (`KeyedAggregateOperator` with `'partials'` input) and emits its upserts. The changelog reaches the
 * same values in fewer steps: one per batch of partials rather than one per batch of events.
 */
export class AggregateCombineOperator implements Operator {
  private readonly aggs: AggregateSet;
  private gathered = new Map<KeyId, Running>();

  constructor(
    readonly id: string,
    private readonly key: (v: unknown) => unknown,
    aggregates: Record<string, Aggregate<unknown, unknown, unknown>>,
    /** Where partials go: the exchange. */
    private readonly out: Outputs,
  ) {
    this.aggs = new AggregateSet(aggregates);
  }

  process(batch: Element[]): void {
    for (const e of batch) {
      const key = this.key(e.value);
      const k = keyId(key);
      let g = this.gathered.get(k);
      if (!g) this.gathered.set(k, (g = { key, accs: this.aggs.create(), ts: e.ts, wm: e.wm }));
      this.aggs.add(g.accs, e.value);
      if (e.ts > g.ts) g.ts = e.ts;
      if (e.wm < g.wm) g.wm = e.wm;
    }
  }

  watermark(wm: number): void {
    if (this.gathered.size > 0) {
      const partials: Element[] = [];
      for (const g of this.gathered.values()) partials.push({ value: g.accs, ts: g.ts, key: g.key, wm: g.wm });
      this.gathered = new Map();
      for (const o of this.out) o.op.process(partials, o.input);
    }
    for (const o of this.out) o.op.watermark(wm, o.input);
  }

  tick(now: number): void {
    for (const o of this.out) o.op.tick?.(now);
  }

  snapshot(): unknown {
    return undefined;
  }

  restore(): void {}
}
