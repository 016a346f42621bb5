/**
 * CORS: a browser page of an allowed origin may call the API (preflight answered, answers marked);
 * one of another origin is refused with a reason; without configuration no origin is allowed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { startServing, type Serving } from '../helpers/serving.js';

describe('CORS', () => {
  let serving: Serving;
  let open: RunningServer;
  let closed: RunningServer;

  before(async () => {
    serving = await startServing({ cors: { origins: ['https://app.example.com'], maxAgeSeconds: 60 } });
    open = serving.server;
    closed = await startServer({ log: serving.log, engine: serving.engine, host: '127.0.0.1', port: 0, auth: { anonymous: ['admin'] } });
    await serving.log.createTopic('clicks', { partitions: 1 });
  });

  after(async () => {
    await closed.close();
    await serving.stop();
  });

  const preflight = (url: string, origin: string) => fetch(`${url}/v1/topics/clicks/events`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
  });

  test('an allowed origin gets its preflight answered and its answers marked', async () => {
    const res = await preflight(open.url, 'https://app.example.com');
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(res.headers.get('access-control-allow-methods')!, /POST/);
    assert.equal(res.headers.get('access-control-allow-headers'), 'content-type, authorization');
    assert.equal(res.headers.get('access-control-max-age'), '60');
    const post = await fetch(`${open.url}/v1/topics/clicks/events`, { method: 'POST', headers: { origin: 'https://app.example.com', 'content-type': 'application/json' }, body: '{"page":"/"}' });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(post.headers.get('vary'), 'Origin');
  });

  test('another origin is refused with a reason; without configuration no origin is allowed', async () => {
    const denied = await preflight(open.url, 'https://evil.example.org');
    assert.equal(denied.status, 403);
    const body = (await denied.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'cors_origin_denied');
    assert.match(body.error.message, /'https:\/\/evil\.example\.org'.*https:\/\/app\.example\.com/);
    const get = await fetch(`${open.url}/v1/health`, { headers: { origin: 'https://evil.example.org' } });
    assert.equal(get.headers.get('access-control-allow-origin'), null);
    const none = await fetch(`${closed.url}/v1/health`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(none.headers.get('access-control-allow-origin'), null);
    assert.notEqual((await preflight(closed.url, 'https://app.example.com')).status, 204);
  });
});
