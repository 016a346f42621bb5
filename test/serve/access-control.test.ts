/**
 * Access control over every endpoint of the API (docs/api.md, "Access control"), table-driven: each
 * route refuses a missing credential, an unknown API key, a JWT with a bad signature, an expired JWT
 * and a caller without the route's scope, and serves a caller with it (API key, HS256 and RS256 JWTs).
 * Then the WebSocket gateway per subscription, tokens in the query string for WebSocket and
 * Server-Sent Events, lists that show only what the caller may read, and per-key ingest rate limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ROUTE_RULES } from '../../src/serve/auth/access.js';
import { rsaKeyPair, signJwt, type SigningKey } from '../helpers/jwt.js';
import { startServing, type Serving } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';
import { WsClient } from '../helpers/ws.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!';
const HS: SigningKey = { algorithm: 'HS256', secret: SECRET };
const rsa = rsaKeyPair();
const RS: SigningKey = { algorithm: 'RS256', privateKey: rsa.privateKey };
const KEYS = {
  admin: 'admin-key-0123456789abcdef',
  reader: 'reader-key-0123456789abcdef',
  ingester: 'ingest-key-0123456789abcdef',
  watcher: 'metrics-key-0123456789abcdef',
  limited: 'limited-key-0123456789abcdef',
};
const nowS = () => Math.floor(Date.now() / 1000);
const jwt = (scope: string, key: SigningKey = HS, exp = nowS() + 600) => signJwt({ sub: 'alice', iss: 'https://id.test', scope, exp }, key);

/** What a route needs, for the table: a scope, any caller, or nothing. */
type Need = { scope: string; lacking: string } | 'caller' | 'public';

interface Route {
  method: string;
  path: string;
  /** The key of ROUTE_RULES this row exercises. */
  rule: string;
  need: Need;
  body?: unknown;
  /** A request that opens a stream: only the status line is read. */
  stream?: boolean;
}

const readAlerts: Need = { scope: 'read:alerts', lacking: 'ingest:payments' };
const admin: Need = { scope: 'admin', lacking: 'read:* ingest:* metrics' };
const metrics: Need = { scope: 'metrics', lacking: 'read:*' };

const ROUTES: Route[] = [
  { method: 'GET', path: '/', rule: 'GET /', need: 'public' },
  { method: 'GET', path: '/client.js', rule: 'GET /client.js', need: 'public' },
  { method: 'GET', path: '/v1/health', rule: 'GET /v1/health', need: 'public' },
  { method: 'GET', path: '/metrics', rule: 'GET /metrics', need: metrics },
  { method: 'GET', path: '/v1/pipelines', rule: 'GET /v1/pipelines', need: metrics },
  { method: 'POST', path: '/v1/pipelines/none/savepoints', rule: 'POST /v1/pipelines/:pipeline/savepoints', need: admin, body: {} },
  { method: 'GET', path: '/v1/topics', rule: 'GET /v1/topics', need: 'caller' },
  { method: 'POST', path: '/v1/topics', rule: 'POST /v1/topics', need: admin, body: { name: 'made' } },
  { method: 'GET', path: '/v1/topics/alerts', rule: 'GET /v1/topics/:topic', need: readAlerts },
  { method: 'PATCH', path: '/v1/topics/alerts/config', rule: 'PATCH /v1/topics/:topic/config', need: admin, body: {} },
  { method: 'DELETE', path: '/v1/topics/no-such-topic', rule: 'DELETE /v1/topics/:topic', need: admin },
  { method: 'GET', path: '/v1/topics/alerts/partitions/0/records', rule: 'GET /v1/topics/:topic/partitions/:partition/records', need: readAlerts },
  { method: 'POST', path: '/v1/topics/payments/events', rule: 'POST /v1/topics/:topic/events', need: { scope: 'ingest:payments', lacking: 'read:* ingest:alerts' }, body: { amount: 1 } },
  { method: 'GET', path: '/v1/views', rule: 'GET /v1/views', need: 'caller' },
  { method: 'GET', path: '/v1/views/alerts/keys/a1', rule: 'GET /v1/views/:view/keys/:key', need: readAlerts },
  { method: 'GET', path: '/v1/views/alerts/rows', rule: 'GET /v1/views/:view/rows', need: readAlerts },
  { method: 'GET', path: '/v1/views/alerts/count', rule: 'GET /v1/views/:view/count', need: readAlerts },
  { method: 'GET', path: '/v1/sse/topics/alerts', rule: 'GET /v1/sse/topics/:topic', need: readAlerts, stream: true },
  { method: 'GET', path: '/v1/sse/views/alerts', rule: 'GET /v1/sse/views/:view', need: readAlerts, stream: true },
  { method: 'GET', path: '/v1/ws', rule: 'GET /v1/ws', need: 'caller' },
];

describe('access control', () => {
  let serving: Serving;
  let url: string;

  before(async () => {
    serving = await startServing({
      auth: {
        apiKeys: [
          { id: 'admin', key: KEYS.admin, scopes: ['admin'] },
          { id: 'reader', key: KEYS.reader, scopes: ['read:alerts'] },
          { id: 'ingester', key: KEYS.ingester, scopes: ['ingest:payments'] },
          { id: 'watcher', key: KEYS.watcher, scopes: ['metrics'] },
          { id: 'limited', key: KEYS.limited, scopes: ['ingest:payments'], ingestRate: { eventsPerSecond: 10, burst: 20 } },
        ],
        jwt: [
          { algorithm: 'HS256', secret: SECRET, issuer: 'https://id.test', clockToleranceSeconds: 0 },
          { algorithm: 'RS256', publicKey: rsa.publicKey, issuer: 'https://id.test', clockToleranceSeconds: 0 },
        ],
      },
    });
    url = serving.server.url;
    await serving.log.createTopic('alerts', { partitions: 1 });
    await serving.log.createTopic('payments', { partitions: 1 });
    await serving.log.createTopic('_deadletter', { partitions: 1 });
    serving.server.views.add('alerts');
    await serving.log.append('alerts', [{ key: 'a1', value: { level: 'high' } }]);
    await waitFor('the view', () => serving.server.views.get('alerts').size === 1);
  });

  after(async () => {
    await serving.stop();
  });

  async function call(route: Route, token?: string): Promise<{ status: number; body: { error?: { code: string; message: string } } | undefined; headers: Headers }> {
    const ac = new AbortController();
    const res = await fetch(url + route.path, {
      method: route.method,
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(route.body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(route.body === undefined ? {} : { body: JSON.stringify(route.body) }),
      signal: ac.signal,
    });
    if (route.stream && res.ok) {
      ac.abort();
      return { status: res.status, body: undefined, headers: res.headers };
    }
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text) as { error?: { code: string; message: string } };
    } catch {
      body = undefined;
    }
    return { status: res.status, body, headers: res.headers };
  }

  test('the table covers every route the server has', () => {
    assert.deepEqual(ROUTES.map((r) => r.rule).sort(), Object.keys(ROUTE_RULES).sort());
  });

  for (const route of ROUTES) {
    const { need } = route;
    test(`${route.method} ${route.path}: ${typeof need === 'string' ? need : need.scope}`, async () => {
      if (need === 'public') {
        const open = await call(route);
        assert.equal(open.status, 200);
        return;
      }
      const none = await call(route);
      assert.equal(none.status, 401, JSON.stringify(none.body));
      assert.equal(none.body?.error?.code, 'unauthenticated');
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="rivulet"/);

      const unknown = await call(route, 'no-such-key-0123456789abcdef');
      assert.equal(unknown.status, 401);
      assert.equal(unknown.body?.error?.code, 'invalid_credentials');

      const forged = await call(route, signJwt({ sub: 'mallory', iss: 'https://id.test', scope: 'admin', exp: nowS() + 600 }, { algorithm: 'HS256', secret: 'another-secret-of-at-least-32-bytes' }));
      assert.equal(forged.status, 401);
      assert.equal(forged.body?.error?.code, 'invalid_credentials');
      assert.match(forged.body?.error?.message ?? '', /signature/);

      const expired = await call(route, jwt('admin', RS, nowS() - 60));
      assert.equal(expired.status, 401);
      assert.equal(expired.body?.error?.code, 'token_expired');

      const scope = need === 'caller' ? 'metrics' : need.scope;
      if (need !== 'caller') {
        for (const token of [jwt(need.lacking), jwt(need.lacking, RS)]) {
          const under = await call(route, token);
          assert.equal(under.status, 403, JSON.stringify(under.body));
          assert.equal(under.body?.error?.code, 'forbidden');
          assert.match(under.body?.error?.message ?? '', new RegExp(`the token of 'alice' lacks scope '${need.scope}'`));
        }
      }
      for (const token of [jwt(scope), jwt(scope, RS), jwt('admin')]) {
        const allowed = await call(route, token);
        assert.ok(allowed.status !== 401 && allowed.status !== 403, `${route.method} ${route.path} with scope '${scope}': ${allowed.status} ${JSON.stringify(allowed.body)}`);
      }
    });
  }

  test('API keys: the scopes of each key, nothing more', async () => {
    const get = (path: string, key: string) => fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
    assert.equal((await get('/v1/views/alerts/rows', KEYS.reader)).status, 200);
    assert.equal((await get('/v1/topics/payments', KEYS.reader)).status, 403);
    assert.equal((await get('/metrics', KEYS.watcher)).status, 200);
    assert.equal((await get('/metrics', KEYS.reader)).status, 403);
    const forbidden = await (await get('/v1/topics/payments', KEYS.reader)).json() as { error: { message: string } };
    assert.equal(forbidden.error.message, "key 'reader' lacks scope 'read:payments'");
    // Another scheme than Bearer is refused, not ignored.
    const basic = await fetch(`${url}/v1/topics`, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    assert.equal(basic.status, 401);
  });

  test('lists show only the topics and views the caller may read', async () => {
    const list = async (path: string, key: string) => (await (await fetch(url + path, { headers: { authorization: `Bearer ${key}` } })).json()) as Record<string, { name: string }[]>;
    assert.deepEqual((await list('/v1/topics', KEYS.reader)).topics!.map((t) => t.name), ['alerts']);
    assert.deepEqual((await list('/v1/topics', KEYS.ingester)).topics!.map((t) => t.name), []);
    assert.deepEqual((await list('/v1/topics', KEYS.admin)).topics!.map((t) => t.name).filter((n) => n !== 'made').sort(), ['_deadletter', 'alerts', 'payments']);
    assert.deepEqual((await list('/v1/views', KEYS.reader)).views!.map((v) => v.name), ['alerts']);
    assert.deepEqual((await list('/v1/views', KEYS.watcher)).views, []);
  });

  test('WebSocket: a token in the query string, and each subscription checked against its scopes', async () => {
    const wsUrl = `${url.replace('http', 'ws')}/v1/ws`;
    const refused = await new Promise<number>((resolve) => {
      const socket = new WebSocket(wsUrl);
      // The client leaves the connection open: the server must close it (or it would hold its own close).
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('open', () => resolve(101));
    });
    assert.equal(refused, 401);
    const client = await WsClient.connect(`${wsUrl}?access_token=${encodeURIComponent(jwt('read:alerts'))}`);
    try {
      client.send({ type: 'subscribe', id: 'ok', topic: 'alerts', from: 'earliest' });
      client.send({ type: 'subscribe', id: 'view', view: 'alerts' });
      client.send({ type: 'subscribe', id: 'no', topic: 'payments' });
      client.send({ type: 'subscribe', id: 'm', metrics: true });
      await waitFor('the records', () => client.records('ok').length === 1);
      await client.next('the snapshot', (f) => f.type === 'snapshot' && f.id === 'view');
      const no = await client.next('a refusal', (f) => f.type === 'error' && f.id === 'no');
      assert.equal(no.code, 'forbidden');
      assert.match(no.message, /lacks scope 'read:payments'/);
      const m = await client.next('a refusal', (f) => f.type === 'error' && f.id === 'm');
      assert.equal(m.code, 'forbidden');
    } finally {
      client.close();
    }
  });

  test('WebSocket: the connection closes when its token expires', async () => {
    const wsUrl = `${url.replace('http', 'ws')}/v1/ws`;
    const client = await WsClient.connect(`${wsUrl}?access_token=${encodeURIComponent(jwt('read:alerts', HS, nowS() + 1))}`);
    const closed = await client.closed();
    assert.deepEqual(closed, { code: 4001, reason: 'token_expired' });
    assert.equal(client.frames.find((f) => f.type === 'error')?.code, 'token_expired');
  });

  test('a Server-Sent Events stream ends when its token expires', async () => {
    const res = await fetch(`${url}/v1/sse/topics/alerts?from=latest&access_token=${encodeURIComponent(jwt('read:alerts', HS, nowS() + 1))}`);
    assert.equal(res.status, 200);
    // The stream ends by itself, its last event saying why.
    const text = await res.text();
    assert.match(text, /event: error\ndata: \{"type":"error","code":"token_expired"/);
  });

  test('Server-Sent Events take the token as access_token, as EventSource cannot send headers', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/sse/topics/alerts?from=earliest&access_token=${encodeURIComponent(KEYS.reader)}`, { signal: ac.signal });
    assert.equal(res.status, 200);
    ac.abort();
    // Elsewhere a token in the URL is not taken (it would end up in logs).
    assert.equal((await fetch(`${url}/v1/topics/alerts?access_token=${encodeURIComponent(KEYS.reader)}`)).status, 401);
  });

  test('ingest rate limits per key: over the limit, 429 and nothing appended', async () => {
    const post = (events: unknown[]) => fetch(`${url}/v1/topics/payments/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.limited}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    const events = (n: number) => Array.from({ length: n }, (_, i) => ({ amount: i }));
    const end = () => serving.log.endOffsets('payments')[0]!;
    assert.equal((await post(events(20))).status, 200, 'the burst');
    const before = end();
    const limited = await post(events(5));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const body = await limited.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'rate_limited');
    assert.match(body.error.message, /key:limited may append 10 events\/s \(burst 20\).*nothing was appended/);
    assert.equal(end(), before, 'nothing appended');
    const huge = await post(events(21));
    assert.equal(huge.status, 429);
    assert.match((await huge.json() as { error: { message: string } }).error.message, /21 events in one request are more than key:limited's burst of 20/);
    // The bucket refills: a retry later goes through.
    await waitFor('the bucket to refill', async () => (await post(events(5))).status === 200);
    assert.equal(end(), before + 5);
    // A body that cannot be read is kept as a dead letter: it counts as one event of the limit.
    const deadLetters = () => serving.log.endOffsets('_deadletter').reduce((a, b) => a + b, 0);
    const malformed = () => fetch(`${url}/v1/topics/payments/events`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.limited}`, 'content-type': 'application/json' }, body: '{not json' });
    const statuses: number[] = [];
    const lettersBefore = deadLetters();
    for (let i = 0; i < 40; i++) statuses.push((await malformed()).status);
    assert.ok(statuses.includes(429), `statuses ${statuses.join()}`);
    assert.ok(deadLetters() - lettersBefore <= 25, `${deadLetters() - lettersBefore} dead letters for 40 malformed bodies at 10/s`);
    // Other keys have their own limits (none here).
    const other = await fetch(`${url}/v1/topics/payments/events`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.ingester}`, 'content-type': 'application/json' }, body: JSON.stringify(events(100)) });
    assert.equal(other.status, 200);
  });
});
