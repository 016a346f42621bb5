/**
 * Group commit: callers that wrote data ask for an fsync; those who arrive while one runs share the
 * next one, so N concurrent appenders cost about two fsyncs, not N.
 */
export class GroupSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly syncAll: () => Promise<void>) {}

  /** Resolves once everything written before this call is on disk. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.syncAll().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    // The running fsync may have started before our write: wait for it, then share the next one.
    this.next ??= this.running.then(
      () => this.startNext(),
      () => this.startNext(),
    );
    return this.next;
  }

  private startNext(): Promise<void> {
    this.next = null;
    return this.sync();
  }
}
