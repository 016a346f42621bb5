/**
 * An error of the Rivulet API as the client received it: `code` is the server's stable code
 * (`unknown_topic`, `forbidden`, `rate_limited`…; `network_error` when the server could not be
 * reached), `status` the HTTP status where there was one, `details` the rest of the error answer
 * (for `invalid_events`: `accepted`, `offsets`, `rejected`).
 *
 * @example
 * ```ts
 * try { await client.ingest('payments', [payment]); }
 * catch (e) { if (e instanceof RivuletClientError && e.code === 'rate_limited') retryLater(); }
 * ```
 */
export class RivuletClientError extends Error {
  override name = 'RivuletClientError';
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
