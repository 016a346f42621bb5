/**
 * Group commit: callers that wrote data ask for an fsync of everything written up to their write;
 * those whose data an fsync already running covers share it, the others share the next one. N
 * concurrent appenders cost one or two fsyncs, not N.
 *
 * Writes are numbered by the owner (`written()` returns the number of the latest one); a sync
 * started when the latest write was W covers every write up to W.
 */
export class GroupSync {
  private running: { promise: Promise<void>; upTo: number } | null = null;
  private next: Promise<void> | null = null;
  private synced = 0;

  constructor(private readonly syncAll: () => Promise<void>, private readonly written: () => number) {}

  /** Resolves once every write up to `upTo` (default: the latest) is on disk. */
  sync(upTo = this.written()): Promise<void> {
    if (this.synced >= upTo) return Promise.resolve();
    if (!this.running) return this.start();
    if (this.running.upTo >= upTo) return this.running.promise;
    // The running fsync started before our write: share the one after it.
    this.next ??= this.running.promise.then(
      () => this.startNext(),
      () => this.startNext(),
    );
    return this.next;
  }

  /** True while no fsync runs and none waits. */
  get idle(): boolean {
    return this.running === null && this.next === null;
  }

  private start(): Promise<void> {
    const upTo = this.written();
    const promise = this.syncAll().then(
      () => {
        this.synced = Math.max(this.synced, upTo);
        this.running = null;
      },
      (err: unknown) => {
        this.running = null;
        throw err;
      },
    );
    this.running = { promise, upTo };
    return promise;
  }

  private startNext(): Promise<void> {
    this.next = null;
    return this.sync();
  }
}
