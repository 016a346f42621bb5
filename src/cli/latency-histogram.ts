/** Buckets of 0.1 ms up to a minute; later ones count in the last bucket. */
const BUCKETS = 600_000;
const PER_MS = 10;

/**
 * Delivery latencies of a load test, in 0.1 ms buckets: recorded in several processes, merged, read
 * as percentiles. Fixed memory (2.4 MB), whatever the number of samples.
 */
export class LatencyHistogram {
  readonly counts: Uint32Array;
  total = 0;
  max = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Uint32Array(BUCKETS);
    if (counts) {
      this.counts.set(counts);
      for (let i = 0; i < BUCKETS; i++) {
        if (this.counts[i]! > 0) {
          this.total += this.counts[i]!;
          this.max = (i + 1) / PER_MS;
        }
      }
    }
  }

  record(ms: number): void {
    const i = Math.min(BUCKETS - 1, Math.max(0, Math.floor(ms * PER_MS)));
    this.counts[i]!++;
    this.total++;
    if (ms > this.max) this.max = ms;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.max = Math.max(this.max, other.max);
  }

  /** The latency (ms, upper edge of its bucket) below which `q` of the samples fall; null without samples. */
  percentile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return (i + 1) / PER_MS;
    }
    return this.max;
  }

  /** Only the buckets with samples, for sending between processes. */
  sparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  static fromSparse(entries: [number, number][]): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const [i, n] of entries) {
      h.counts[i] = n;
      h.total += n;
      h.max = Math.max(h.max, (i + 1) / PER_MS);
    }
    return h;
  }
}
