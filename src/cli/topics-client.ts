import { ApiError, InvalidArgumentError, ServerUnreachableError } from '../core/errors.js';
import type { CreateTopicRequest, TopicAdmin, TopicDescription } from '../serve/topic-admin.js';

/** How long the CLI waits for an answer from the server. */
const TIMEOUT_MS = 30_000;

/** Checks a `--url` (or `RIVULET_URL`) and drops trailing slashes. */
export function checkServerUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`--url: expected a URL such as http://127.0.0.1:7070, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidArgumentError(`--url: expected an http:// or https:// URL, got '${url}'`);
  return url.replace(/\/+$/, '');
}

/** The error of a request that never got an answer, saying what to do about it. */
function unreachable(url: string, err: unknown): ServerUnreachableError {
  if ((err as Error).name === 'TimeoutError') return new ServerUnreachableError(`no answer from ${url} within ${TIMEOUT_MS / 1000} s`, { cause: err });
  // undici puts the socket error in `cause`; when a name resolves to several addresses, in `cause.errors`.
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') {
    return new ServerUnreachableError(
      `no Rivulet is running at ${url} (connection refused): start one with \`rivulet start\`, give the URL of a running one with --url or RIVULET_URL, or administer a stopped data directory with --data <dir>`,
      { cause: err },
    );
  }
  return new ServerUnreachableError(`cannot reach Rivulet at ${url}: ${code ?? cause?.message ?? (err as Error).message}; check --url (or RIVULET_URL), or use --data <dir> for a stopped data directory`, { cause: err });
}

/** {@link TopicAdmin} through the HTTP API of a running Rivulet: what `rivulet topics --url` uses. */
export class HttpTopicAdmin implements TopicAdmin {
  readonly url: string;

  constructor(url: string, private readonly token?: string) {
    this.url = checkServerUrl(url);
  }

  async list(): Promise<TopicDescription[]> {
    return (await this.request<{ topics: TopicDescription[] }>('GET', '/v1/topics')).topics;
  }

  describe(name: string): Promise<TopicDescription> {
    return this.request('GET', `/v1/topics/${encodeURIComponent(name)}`);
  }

  create(request: CreateTopicRequest): Promise<TopicDescription> {
    return this.request('POST', '/v1/topics', request);
  }

  updateConfig(name: string, patch: Record<string, unknown>): Promise<TopicDescription> {
    return this.request('PATCH', `/v1/topics/${encodeURIComponent(name)}/config`, patch);
  }

  async delete(name: string): Promise<void> {
    await this.request('DELETE', `/v1/topics/${encodeURIComponent(name)}`);
  }

  private request<T>(method: string, route: string, body?: unknown): Promise<T> {
    return apiRequest<T>(this.url, method, route, body, this.token);
  }
}

/**
 * One request to the HTTP API of a running Rivulet at `url`: the parsed JSON answer, or the API's error
 * as an {@link ApiError} (code, message, status); `token` is sent as the bearer token. A server that does not answer gives {@link ServerUnreachableError}.
 */
export async function apiRequest<T>(url: string, method: string, route: string, body?: unknown, token?: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url + route, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw unreachable(url, err);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError('unexpected_response', `${method} ${url}${route} answered ${res.status} with something that is not Rivulet's API; is --url the address of a Rivulet?`, res.status);
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code === 'string' && typeof error.message === 'string') throw new ApiError(error.code, error.message, res.status);
    throw new ApiError('unexpected_response', `${method} ${url}${route} answered ${res.status}: ${text.slice(0, 200)}`, res.status);
  }
  return json as T;
}
