import { UnknownTopicError } from '../../core/errors.js';
import type { TopicInfo } from '../log.js';

/** What this process knows of one topic of a log kept on a server. */
export interface CachedTopic {
  info: TopicInfo;
  /** Each partition's first stored offset, as last seen. */
  starts: number[];
  /** Each partition's next offset, as last seen: never behind what this process appended or read. */
  ends: number[];
  /** Readers waiting in `waitForRecords`. */
  waiters: Set<() => void>;
  roundRobin: number;
}

/**
 * The topics of a server-side log as this process last saw them. The `Log` interface answers
 * `describeTopic`, `startOffsets` and `endOffsets` at once, so backends keep them here and bring them
 * up to date from what they learn: their own appends and reads, change notifications from other
 * processes, and a poll while someone waits. Offsets only ever move forward here.
 */
export class TopicCache {
  private readonly topics = new Map<string, CachedTopic>();

  get(name: string): CachedTopic | undefined {
    return this.topics.get(name);
  }

  /** The topic, or an {@link UnknownTopicError} naming it. */
  require(name: string): CachedTopic {
    const t = this.topics.get(name);
    if (!t) throw new UnknownTopicError(name);
    return t;
  }

  list(): TopicInfo[] {
    return [...this.topics.values()].map((t) => t.info).sort((a, b) => a.name.localeCompare(b.name));
  }

  names(): string[] {
    return [...this.topics.keys()];
  }

  /**
   * Adds or replaces a topic. A topic created again under the same name (a later `createdAt`) starts
   * from the given offsets; the same topic keeps the furthest offsets seen.
   */
  put(info: TopicInfo, starts: number[], ends: number[]): CachedTopic {
    const old = this.topics.get(info.name);
    if (old && old.info.createdAt === info.createdAt && old.info.partitions === info.partitions) {
      old.info = info;
      for (let p = 0; p < info.partitions; p++) {
        this.observe(old, p, starts[p] ?? 0, ends[p] ?? 0);
      }
      return old;
    }
    const t: CachedTopic = { info, starts: starts.slice(), ends: ends.slice(), waiters: old?.waiters ?? new Set(), roundRobin: 0 };
    this.topics.set(info.name, t);
    if (old) wake(t);
    return t;
  }

  /** Forgets a topic; its waiting readers wake (and then find it gone). */
  remove(name: string): void {
    const t = this.topics.get(name);
    if (!t) return;
    this.topics.delete(name);
    wake(t);
  }

  /** Records what was seen of a partition: its start and end move forward only. Wakes readers when the end moved. */
  observe(t: CachedTopic, partition: number, start: number | undefined, end: number | undefined): void {
    if (start !== undefined && start > (t.starts[partition] ?? 0)) t.starts[partition] = start;
    if (end !== undefined && end > (t.ends[partition] ?? 0)) {
      t.ends[partition] = end;
      if (t.starts[partition]! > end) t.starts[partition] = end;
      wake(t);
    } else if (start !== undefined && t.ends[partition]! < t.starts[partition]!) {
      t.ends[partition] = t.starts[partition]!;
    }
  }

  /**
   * Resolves when a partition of `topic` has records at or past `positions`, the topic goes away, or
   * `signal` aborts. While waiting, `poll` runs every `pollMs`: other writers' records reach this process
   * through it when their notifications do not.
   */
  wait(topic: string, positions: readonly number[], pollMs: number, poll: () => Promise<void>, signal?: AbortSignal): Promise<void> {
    const t = this.require(topic);
    const ready = () => this.topics.get(topic) !== t || t.ends.some((end, p) => end > (positions[p] ?? 0));
    if (ready() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        t.waiters.delete(check);
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const check = () => {
        if (ready()) finish();
      };
      const tick = () => {
        timer = setTimeout(() => {
          poll().then(check, () => undefined).finally(() => {
            if (t.waiters.has(check)) tick();
          });
        }, pollMs);
        timer.unref();
      };
      t.waiters.add(check);
      signal?.addEventListener('abort', finish, { once: true });
      tick();
    });
  }
}

function wake(t: CachedTopic): void {
  for (const w of [...t.waiters]) w();
}
