/** Options of {@link drive}. */
export interface DriveOptions {
  /** Workers, each awaiting its own operation before it starts the next one. */
  concurrency: number;
  /** How long to measure, after the warm-up. */
  seconds: number;
  /** Run before measuring (JIT, caches, file growth); not counted. Default 0. */
  warmupSeconds?: number;
  /** Stop early once this many operations were counted. */
  maxOps?: number;
}

/** What {@link drive} counted. */
export interface DriveResult {
  /** Operations completed inside the measured window. */
  ops: number;
  /** Length of the measured window. */
  seconds: number;
}

/** How often the workers step out to the event loop, so timers (a log's fsync interval) and I/O callbacks run. */
const YIELD_EVERY_MS = 1;

/**
 * Calls `op` from `concurrency` workers until the time or the operation budget runs out.
 *
 * Operations that resolve without I/O (an append acknowledged before fsync) only ever yield to
 * microtasks, which would starve timers; so every millisecond all workers pause together on one
 * `setImmediate`, as a producer that reads its input from the network would.
 */
export async function drive(options: DriveOptions, op: () => Promise<void>): Promise<DriveResult> {
  const start = performance.now();
  const from = start + (options.warmupSeconds ?? 0) * 1000;
  const deadline = from + options.seconds * 1000;
  const maxOps = options.maxOps ?? Infinity;
  let ops = 0;
  let end = 0;
  let stopped = false;
  let lastYield = start;
  let pause: Promise<void> | null = null;
  const worker = async () => {
    while (!stopped) {
      await op();
      if (stopped) break;
      const now = performance.now();
      if (now >= from) ops++;
      if (now >= deadline || ops >= maxOps) {
        stopped = true;
        end = now;
        break;
      }
      if (!pause && now - lastYield >= YIELD_EVERY_MS) {
        pause = new Promise((resolve) =>
          setImmediate(() => {
            pause = null;
            lastYield = performance.now();
            resolve();
          }),
        );
      }
      if (pause) await pause;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { ops, seconds: Math.max(end - from, 1e-9) / 1000 };
}
