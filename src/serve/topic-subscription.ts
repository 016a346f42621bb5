import type { Log } from '../log/log.js';
import type { GatewayStats, Outlet } from './outlet.js';
import { compileFilter, followPositions, startPositions, type SubscribeFrom, type SubscriptionFilter, type TopicFrame } from './subscription.js';
import type { TailMember, TopicTail, TopicTails } from './topic-tail.js';

/** A topic subscription's request, as the client sent it. */
export interface TopicRequest {
  id: string;
  topic: string;
  from: SubscribeFrom;
  filter?: SubscriptionFilter | undefined;
  flow: 'pause' | 'drop-oldest' | 'disconnect';
}

/** What topic subscriptions of one server share. */
export interface TopicSubscriptionDeps {
  log: Log;
  tails: TopicTails;
  stats: GatewayStats;
  batch: number;
}

/**
 * One topic subscription of a WebSocket connection (docs/protocol.md, "Topic"). It reads by itself
 * until it has caught up, then joins the topic's shared tail ({@link TopicTail}), and reads by itself
 * again whenever its connection is full. State and callbacks are one object with methods, not
 * closures: at tens of thousands of subscriptions, closures are most of their memory.
 */
export class TopicSubscription implements TailMember {
  readonly prefix: Buffer;
  readonly match?: { keys?: ReadonlySet<string>; passes: (key: string | null, value: unknown) => boolean };
  private readonly abort = new AbortController();
  private readonly tail: TopicTail;
  private positions: number[] = [];
  /** Whether the tail sends to this subscription now. */
  private inTail = false;
  /** Ends the wait of {@link run} while the subscription is in the tail. */
  private left: (() => void) | undefined;

  constructor(private readonly request: TopicRequest, private readonly outlet: Outlet, private readonly deps: TopicSubscriptionDeps) {
    this.prefix = Buffer.from(`{"type":"records","id":${JSON.stringify(request.id)}`);
    const passes = compileFilter(request.filter);
    if (passes) this.match = { passes, ...(request.filter?.keys ? { keys: new Set(request.filter.keys) } : {}) };
    this.tail = deps.tails.of(request.topic);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Ends the subscription: it leaves the tail, and its own reading stops. */
  stop(): void {
    this.abort.abort();
    this.tail.leave(this);
    this.leftTail();
  }

  /** Runs until {@link stop} or the connection closes; throws `invalid_subscription` for a bad start. */
  async run(): Promise<void> {
    const { id, topic } = this.request;
    this.positions = await startPositions(this.deps.log, topic, this.request.from);
    if (this.signal.aborted) return;
    this.outlet.send({ type: 'subscribed', id, topic, positions: this.positions });
    while (this.live()) {
      await followPositions(this.deps.log, topic, this.positions, this);
      if (!this.live()) return;
      // In the tail until it drops this subscription — which may have happened already, between the
      // join and now: then there is nothing to wait for.
      if (this.inTail) await new Promise<void>((resolve) => { this.left = resolve; });
      this.left = undefined;
      if (!this.live()) return;
      // It left the tail because its buffer is full: the policy decides what follows.
      if (this.outlet.full() && !(await this.behind())) return;
    }
  }

  // The reading loop's options (followPositions): this object is them.

  get batch(): number {
    return this.deps.batch;
  }

  get filter(): SubscriptionFilter | undefined {
    return this.request.filter;
  }

  open(): boolean {
    return this.outlet.open();
  }

  async emit(frame: TopicFrame): Promise<void> {
    this.outlet.send({ ...frame, id: this.request.id });
    if (frame.type === 'records' && this.outlet.full()) await this.behind();
  }

  limitTo(): readonly number[] | undefined {
    return this.tail.position();
  }

  /** Caught up with the log: meet the tail at its positions, then join it. */
  async caughtUp(): Promise<'joined' | 'retry' | 'wait'> {
    const at = this.tail.position();
    if (at !== undefined && this.positions.some((o, p) => o > at[p]!)) {
      // Ahead of the tail somewhere: once it has moved on, meet it by reading up to it.
      await this.tail.nextFrame(this.signal);
      return 'retry';
    }
    if (at !== undefined && this.positions.some((o, p) => o < at[p]!)) return 'retry';
    if (!this.tail.join(this, this.positions)) return 'retry';
    this.inTail = true;
    return 'joined';
  }

  // As a member of the tail (TailMember).

  deliver(frame: Buffer, next: readonly number[]): boolean {
    if (!this.live() || this.outlet.full()) {
      this.leftTail();
      return false;
    }
    this.outlet.sendRaw(frame);
    this.advance(next);
    return true;
  }

  advance(next: readonly number[]): void {
    for (let p = 0; p < next.length; p++) this.positions[p] = next[p]!;
  }

  dropped(): void {
    this.leftTail();
  }

  private leftTail(): void {
    this.inTail = false;
    this.left?.();
  }

  private live(): boolean {
    return !this.signal.aborted && this.outlet.open();
  }

  /**
   * The connection is over its bound: `disconnect` closes it (false); `pause` waits for it to drain;
   * `drop-oldest` waits too, then skips what piled up meanwhile but the newest `batch` records of each
   * partition, telling the client with a gap frame.
   */
  private async behind(): Promise<boolean> {
    const { id, topic, flow } = this.request;
    if (flow === 'disconnect') {
      this.outlet.disconnectSlow(id);
      return false;
    }
    await this.outlet.drained(this.signal);
    if (flow !== 'drop-oldest' || this.signal.aborted) return !this.signal.aborted;
    const ends = this.deps.log.endOffsets(topic);
    for (let p = 0; p < this.positions.length; p++) {
      const to = ends[p]! - this.deps.batch;
      if (to <= this.positions[p]!) continue;
      this.outlet.send({ type: 'gap', id, partition: p, from: this.positions[p], to, reason: 'slow_consumer' });
      this.deps.stats.droppedRecords += to - this.positions[p]!;
      this.positions[p] = to;
    }
    return true;
  }
}
