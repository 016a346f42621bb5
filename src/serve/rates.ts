import type { Log } from '../log/log.js';

/** Records per second appended to each topic, sampled once a second from the log's end offsets. */
export class TopicRates {
  private last = new Map<string, { total: number; at: number }>();
  private rates = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly log: Log, intervalMs = 1000) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = Date.now();
    for (const t of this.log.listTopics()) {
      const total = this.log.endOffsets(t.name).reduce((a, b) => a + b, 0);
      const prev = this.last.get(t.name);
      if (prev && now > prev.at) this.rates.set(t.name, ((total - prev.total) * 1000) / (now - prev.at));
      this.last.set(t.name, { total, at: now });
    }
  }

  /** Records/s of each topic over the last interval. */
  snapshot(): { topic: string; recordsPerSecond: number; endOffsets: number[] }[] {
    return this.log.listTopics().map((t) => ({
      topic: t.name,
      recordsPerSecond: Math.round((this.rates.get(t.name) ?? 0) * 10) / 10,
      endOffsets: this.log.endOffsets(t.name),
    }));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
