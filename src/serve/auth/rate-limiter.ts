import { RivuletError } from '../../core/errors.js';
import type { IngestRate } from './auth-options.js';

/** Ingest refused because a key appended faster than its rate limit: HTTP 429, retry after `retryAfterMs`. */
export class RateLimitedError extends RivuletError {
  override name = 'RateLimitedError';
  constructor(message: string, readonly retryAfterMs: number) {
    super('rate_limited', message);
  }
}

interface Bucket {
  tokens: number;
  at: number;
  rate: IngestRate;
}

/**
 * Token buckets of events per principal: each principal's bucket holds up to `burst` events and refills
 * at `eventsPerSecond`. A request takes all of its events or none, so that a refused request appended
 * nothing and can be sent again as it is.
 */
export class IngestRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private calls = 0;

  /** Takes `events` from `principal`'s bucket, or throws {@link RateLimitedError} naming the limit. */
  take(principal: string, rate: IngestRate, events: number, now = Date.now()): void {
    if (++this.calls % 1024 === 0) this.sweep(now);
    let bucket = this.buckets.get(principal);
    if (!bucket) {
      bucket = { tokens: rate.burst, at: now, rate };
      this.buckets.set(principal, bucket);
    }
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) / 1000) * rate.eventsPerSecond);
    bucket.at = now;
    if (events > rate.burst) {
      throw new RateLimitedError(`${events} events in one request are more than ${principal}'s burst of ${rate.burst}; send at most ${rate.burst} per request`, 1000);
    }
    if (events > bucket.tokens) {
      const retryAfterMs = Math.ceil(((events - bucket.tokens) / rate.eventsPerSecond) * 1000);
      throw new RateLimitedError(`${principal} may append ${rate.eventsPerSecond} events/s (burst ${rate.burst}); ${events} more now would exceed it; nothing was appended, retry in ${retryAfterMs} ms`, retryAfterMs);
    }
    bucket.tokens -= events;
  }

  /** Forgets buckets that have refilled: a new one starts full, so forgetting them changes nothing. */
  private sweep(now: number): void {
    for (const [principal, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * b.rate.eventsPerSecond >= b.rate.burst) this.buckets.delete(principal);
    }
  }
}
