/**
 * Remembers partitions where a read came back empty although the end offset lay beyond the reader:
 * the records in between were removed (retention, compaction), or a log on servers answered before it
 * had them. Moving the reader to the end would lose them in the second case; reading again at once
 * would spin in the first. So such a partition is read again when its end moves, or after `retryMs`.
 */
export class EmptyReads {
  private readonly seen = new Map<string, { end: number; at: number }>();

  constructor(private readonly retryMs = 1000) {}

  /** Notes an empty read of `key` (a partition) while its end was `end`. */
  note(key: string, end: number): void {
    this.seen.set(key, { end, at: Date.now() });
  }

  /** Where a reader of `key` at `position` should wait for records: past the end of its empty read, while that holds. */
  waitFrom(key: string, position: number): number {
    const s = this.seen.get(key);
    return s !== undefined && Date.now() - s.at < this.retryMs ? Math.max(position, s.end) : position;
  }

  /** Whether some partition waits for its retry: the reader must wake by then even if nothing arrives. */
  get pending(): boolean {
    const now = Date.now();
    for (const [key, s] of this.seen) if (now - s.at >= this.retryMs) this.seen.delete(key);
    return this.seen.size > 0;
  }

  get retryAfterMs(): number {
    return this.retryMs;
  }

  /** Whether reading `key` now, with the partition ending at `end`, would only repeat an empty read. */
  pointless(key: string, end: number): boolean {
    const s = this.seen.get(key);
    if (s === undefined) return false;
    if (end > s.end || Date.now() - s.at >= this.retryMs) {
      this.seen.delete(key);
      return false;
    }
    return true;
  }
}
