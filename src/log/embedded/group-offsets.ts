import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, storageError } from '../../core/errors.js';
import { writeFileDurably } from '../../core/durable-fs.js';

/** Committed next offsets of one group: per topic, per partition (`null` where it never committed). */
type GroupOffsets = Record<string, (number | null)[]>;

/**
 * The committed offsets of consumer groups, one file per group (`<dir>/<group>.json`), each replaced
 * atomically and durably on every commit. A commit counts only once it is on disk: when the write
 * fails, the previous offsets stay in force, in memory as on disk.
 */
export class GroupOffsetStore {
  private readonly groups = new Map<string, GroupOffsets>();

  constructor(private readonly dir: string) {}

  /** Reads every group's file; an unreadable one fails naming it. */
  load(): void {
    if (!fs.existsSync(this.dir)) return;
    for (const f of fs.readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const file = path.join(this.dir, f);
      try {
        this.groups.set(f.slice(0, -5), JSON.parse(fs.readFileSync(file, 'utf8')) as GroupOffsets);
      } catch (cause) {
        throw storageError('reading committed offsets', file, cause);
      }
    }
  }

  /** Stores `offsets[p]` as the group's next offset of partition `p` of `topic` (`undefined` leaves one as is). */
  commit(group: string, topic: string, partitions: number, offsets: readonly (number | undefined)[]): void {
    const previous = this.groups.get(group) ?? {};
    const current = [...(previous[topic] ?? new Array<number | null>(partitions).fill(null))];
    offsets.forEach((o, p) => {
      if (o === undefined) return;
      if (!Number.isInteger(o) || o < 0) throw new InvalidArgumentError(`offset for partition ${p} must be a non-negative integer, got ${o}`, 'invalid_offset');
      current[p] = o;
    });
    this.groups.set(group, { ...previous, [topic]: current });
    try {
      this.save(group);
    } catch (err) {
      this.groups.set(group, previous);
      throw err;
    }
  }

  /** The group's committed next offsets of `topic`, `null` where it never committed. */
  committed(group: string, topic: string, partitions: number): (number | null)[] {
    const stored = this.groups.get(group)?.[topic];
    return Array.from({ length: partitions }, (_, p) => stored?.[p] ?? null);
  }

  /** Forgets a deleted topic's offsets in every group. */
  forgetTopic(topic: string): void {
    for (const [group, topics] of this.groups) {
      if (!(topic in topics)) continue;
      const { [topic]: _gone, ...rest } = topics;
      this.groups.set(group, rest);
      this.save(group);
    }
  }

  private save(group: string): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
    } catch (cause) {
      throw storageError('creating', this.dir, cause);
    }
    writeFileDurably(path.join(this.dir, `${group}.json`), JSON.stringify(this.groups.get(group) ?? {}));
  }
}
