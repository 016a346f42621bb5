import type { LogRecord } from '../core/record.js';
import type { Log } from '../log/log.js';
import { wireRecord } from './subscription.js';

/** A subscription the tail sends to: its frame prefix, and what it does with each frame. */
export interface TailMember {
  /** `{"type":"records","id":"…"` as bytes: the part of a frame that differs per subscription. */
  readonly prefix: Buffer;
  /**
   * Takes one frame (prefix and body) that brings it to `positions`; returns false when it leaves
   * the tail instead (its connection is full or closed): it then goes on from the positions it had.
   */
  deliver(frame: Buffer, positions: readonly number[]): boolean;
  /** The tail stopped (a failed read): the member goes on by itself from its positions. */
  dropped(): void;
}

/**
 * One reader at the end of a topic, shared by every subscription that follows the end without a
 * filter: each batch of new records is read once and encoded once, and every member gets the same
 * bytes behind its own prefix. That is what lets one process serve thousands of subscribers of a
 * topic: without it each would read and encode every record itself. Members join when their
 * positions equal the tail's (see {@link TopicTail.join}), so a member misses nothing and gets nothing
 * twice; a member whose connection is full leaves and catches up on its own.
 */
export class TopicTail {
  private readonly members = new Set<TailMember>();
  /** The offsets of the next frame: a member at these positions may join. */
  private positions: number[] = [];
  private running = false;
  private abort = new AbortController();
  private readonly sent = new Set<() => void>();

  constructor(private readonly log: Log, readonly topic: string, private readonly batch: number) {}

  get size(): number {
    return this.members.size;
  }

  /**
   * Adds `member` when `positions` are where the tail is (or the tail has no members: it starts from
   * them); returns false otherwise, and the member keeps reading on its own.
   */
  join(member: TailMember, positions: readonly number[]): boolean {
    if (this.members.size === 0) {
      this.positions = [...positions];
    } else if (positions.length !== this.positions.length || positions.some((o, p) => o !== this.positions[p])) {
      return false;
    }
    this.members.add(member);
    if (!this.running) void this.run();
    return true;
  }

  leave(member: TailMember): void {
    this.members.delete(member);
    if (this.members.size === 0) this.abort.abort();
  }

  /** Where the tail is, or undefined when it has no members (a joiner sets it). */
  position(): readonly number[] | undefined {
    return this.members.size === 0 ? undefined : this.positions;
  }

  /** Resolves after the tail's next frame (or when it stops). */
  nextFrame(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.sent.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.sent.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    try {
      while (this.members.size > 0) {
        const from = this.positions;
        const read: LogRecord[][] = await Promise.all(from.map((o, p) => this.log.read(this.topic, p, o, this.batch)));
        if (this.members.size === 0) break;
        if (read.every((r) => r.length === 0)) {
          this.wake();
          await this.log.waitForRecords(this.topic, from, signal);
          continue;
        }
        const next = from.map((o, p) => (read[p]!.length > 0 ? read[p]!.at(-1)!.offset + 1 : o));
        // Encoded once for every member: `,"records":[…],"positions":[…]}` follows each member's prefix.
        const body = Buffer.from(`,${JSON.stringify({ records: read.flat().map(wireRecord), positions: next }).slice(1)}`);
        this.positions = next;
        for (const member of this.members) {
          if (!member.deliver(Buffer.concat([member.prefix, body]), next)) this.members.delete(member);
        }
        this.wake();
      }
    } catch (err) {
      if (!signal.aborted) {
        console.error(`the tail of topic '${this.topic}' stopped:`, err);
        // Members read on their own from their positions.
        for (const member of this.members) member.dropped();
        this.members.clear();
      }
    } finally {
      this.running = false;
      this.wake();
      // Members that joined while the last run was ending.
      if (this.members.size > 0) void this.run();
    }
  }

  private wake(): void {
    for (const done of [...this.sent]) done();
  }
}

/** The tails of one server, one per topic, made on first use. */
export class TopicTails {
  private readonly tails = new Map<string, TopicTail>();

  constructor(private readonly log: Log, private readonly batch: number) {}

  /** Subscriptions served by a shared tail now, over all topics. */
  members(): number {
    let n = 0;
    for (const tail of this.tails.values()) n += tail.size;
    return n;
  }

  of(topic: string): TopicTail {
    let tail = this.tails.get(topic);
    if (!tail) {
      tail = new TopicTail(this.log, topic, this.batch);
      this.tails.set(topic, tail);
    }
    return tail;
  }
}
