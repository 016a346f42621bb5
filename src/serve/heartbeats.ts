/** A connection that takes part in heartbeats. */
export interface Heartbeat {
  /** One tick: send a heartbeat, or close a peer that showed no sign of life for two ticks. */
  beat(): void;
}

/**
 * One timer for the heartbeats of every WebSocket connection of a server: a timer per connection is
 * memory that adds up at tens of thousands of connections.
 */
export class Heartbeats {
  private readonly members = new Set<Heartbeat>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly intervalMs: number) {}

  add(member: Heartbeat): void {
    this.members.add(member);
    if (!this.timer) {
      this.timer = setInterval(() => { for (const m of this.members) m.beat(); }, this.intervalMs);
      this.timer.unref();
    }
  }

  delete(member: Heartbeat): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
