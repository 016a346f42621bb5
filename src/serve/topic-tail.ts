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
  /** Only records that pass: `keys` (when set) is looked up per record, then `passes` checked. */
  readonly match?: { keys?: ReadonlySet<string>; passes: (key: string | null, value: unknown) => boolean };
  /** Nothing of a batch passed the filter: the member is at `positions` all the same. */
  advance?(positions: readonly number[]): void;
}

/**
 * One reader at the end of a topic, shared by every subscription that follows the end without a
 * filter: each batch of new records is read once and encoded once, and every member gets the same
 * bytes behind its own prefix. That is what lets one process serve thousands of subscribers of a
 * topic: without it each would read and encode every record itself. Members join when their
 * positions equal the tail's (see {@link TopicTail.join}), so a member misses nothing and gets nothing
 * twice; a member whose connection is full leaves and catches up on its own. Members with a filter
 * get their own frames; those filtering by key are found per record through an index, so that a
 * thousand subscribers of one key each cost the records of their key, not every record.
 */
export class TopicTail {
  private readonly members = new Set<TailMember>();
  /** Members filtering by key, by each of their keys. */
  private readonly byKey = new Map<string, Set<TailMember>>();
  /** Members with a filter but no keys: every record is checked. */
  private readonly scanning = new Set<TailMember>();
  /** The offsets of the next frame: a member at these positions may join. */
  private positions: number[] = [];
  private running = false;
  /** Aborted when the last member leaves, to end the wait for records. */
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
      // A new start (the last run may still be ending: it sees the new positions and reads from them).
      this.positions = [...positions];
      this.abort = new AbortController();
    } else if (positions.length !== this.positions.length || positions.some((o, p) => o !== this.positions[p])) {
      return false;
    }
    this.members.add(member);
    if (member.match?.keys) {
      for (const k of member.match.keys) {
        let set = this.byKey.get(k);
        if (!set) this.byKey.set(k, (set = new Set()));
        set.add(member);
      }
    } else if (member.match) {
      this.scanning.add(member);
    }
    if (!this.running) void this.run();
    return true;
  }

  leave(member: TailMember): void {
    if (!this.members.delete(member)) return;
    this.scanning.delete(member);
    for (const k of member.match?.keys ?? []) {
      const set = this.byKey.get(k);
      set?.delete(member);
      if (set?.size === 0) this.byKey.delete(k);
    }
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
    try {
      while (this.members.size > 0) {
        const from = this.positions;
        const read: LogRecord[][] = await Promise.all(from.map((o, p) => this.log.read(this.topic, p, o, this.batch)));
        // Everyone left and someone joined meanwhile, at other positions: read from those.
        if (this.positions !== from) continue;
        if (this.members.size === 0) break;
        // Retention removed records the tail had not read (it fell that far behind): members read on
        // by themselves, which tells each client of the gap, and meet the tail again after it.
        const starts = this.log.startOffsets(this.topic);
        if (from.some((o, p) => o < starts[p]!)) {
          const behind = [...this.members];
          for (const member of behind) this.leave(member);
          for (const member of behind) member.dropped();
          continue;
        }
        if (read.every((r) => r.length === 0)) {
          this.wake();
          await this.log.waitForRecords(this.topic, from, this.abort.signal);
          continue;
        }
        const next = from.map((o, p) => (read[p]!.length > 0 ? read[p]!.at(-1)!.offset + 1 : o));
        this.positions = next;
        this.send(read.flat().map(wireRecord), next);
        this.wake();
      }
    } catch (err) {
      console.error(`the tail of topic '${this.topic}' stopped:`, err);
      // Members read on their own from their positions.
      const dropped = [...this.members];
      for (const member of dropped) this.leave(member);
      for (const member of dropped) member.dropped();
    } finally {
      this.running = false;
      this.wake();
      // Members that joined while the last run was ending.
      if (this.members.size > 0) void this.run();
    }
  }

  /** One batch to every member: the same bytes to those without a filter, their records to the others. */
  private send(records: ReturnType<typeof wireRecord>[], next: readonly number[]): void {
    let shared: Buffer | undefined;
    const matched = new Map<TailMember, ReturnType<typeof wireRecord>[]>();
    const match = (member: TailMember, r: ReturnType<typeof wireRecord>) => {
      if (!member.match!.passes(r.key, r.value)) return;
      const list = matched.get(member);
      if (list) list.push(r);
      else matched.set(member, [r]);
    };
    if (this.byKey.size > 0 || this.scanning.size > 0) {
      for (const r of records) {
        if (r.key !== null) for (const member of this.byKey.get(r.key) ?? []) match(member, r);
        for (const member of this.scanning) match(member, r);
      }
    }
    const body = (list: ReturnType<typeof wireRecord>[]) => Buffer.from(`,${JSON.stringify({ records: list, positions: next }).slice(1)}`);
    // A member that leaves is deleted as the loop goes: a Set's iteration allows that.
    for (const member of this.members) {
      let frame: Buffer | undefined;
      if (!member.match) frame = Buffer.concat([member.prefix, (shared ??= body(records))]);
      else {
        const mine = matched.get(member);
        if (!mine) {
          member.advance?.(next);
          continue;
        }
        frame = Buffer.concat([member.prefix, body(mine)]);
      }
      if (!member.deliver(frame, next)) this.leave(member);
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
