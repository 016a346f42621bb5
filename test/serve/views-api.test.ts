/**
 * Pull queries on views over HTTP: rows by key range and prefix in key order, pages with a cursor,
 * counts, each answer with the positions of the view's topic it is consistent with; bad queries are
 * refused by name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EmbeddedLog } from '../../src/log/embedded/embedded-log.js';
import type { RunningServer } from '../../src/serve/server.js';
import { startServing, type Serving } from '../helpers/serving.js';
import { waitFor } from '../helpers/tmp.js';

interface Row { key: string; value: { n: number } }
interface Page { view: string; rows: Row[]; positions: number[]; cursor?: string }

describe('view queries over HTTP', () => {
  let serving: Serving;
  let log: EmbeddedLog;
  let server: RunningServer;
  /** What the view should hold: key → n. */
  const expected = new Map<string, number>();

  const get = async <T>(path: string): Promise<{ status: number; body: T; headers: Headers }> => {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  };
  const caughtUp = () => waitFor('the view to read its topic', () => {
    const v = server.views.get('users');
    return v.position().join() === log.endOffsets('users').join();
  });

  before(async () => {
    serving = await startServing();
    ({ log, server } = serving);
    await log.createTopic('users', { partitions: 3 });
    server.views.add('users');
    const records = [];
    for (let i = 0; i < 200; i++) {
      const key = `user-${String(i).padStart(3, '0')}`;
      records.push({ key, value: { n: i } });
      expected.set(key, i);
    }
    // Updates, deletions, and a key deleted and written again.
    for (const i of [5, 17, 150]) {
      records.push({ key: `user-${String(i).padStart(3, '0')}`, value: { n: i + 1000 } });
      expected.set(`user-${String(i).padStart(3, '0')}`, i + 1000);
    }
    for (const i of [20, 21, 199, 30]) {
      records.push({ key: `user-${String(i).padStart(3, '0')}`, value: null });
      expected.delete(`user-${String(i).padStart(3, '0')}`);
    }
    records.push({ key: 'user-030', value: { n: 30 } });
    expected.set('user-030', 30);
    records.push({ key: 'admin', value: { n: -1 } });
    expected.set('admin', -1);
    await log.append('users', records);
    await caughtUp();
  });

  after(async () => {
    await serving.stop();
  });

  const sortedKeys = (pred: (k: string) => boolean) => [...expected.keys()].filter(pred).sort();

  test('rows of a prefix come in key order, page by page with a cursor, each page with its positions', async () => {
    const keys: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { status, body } = await get<Page>(`/v1/views/users/rows?prefix=user-1&limit=30${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(status, 200);
      assert.deepEqual(body.positions, log.endOffsets('users'));
      for (const r of body.rows) {
        keys.push(r.key);
        assert.equal(r.value.n, expected.get(r.key));
      }
      cursor = body.cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(keys, sortedKeys((k) => k.startsWith('user-1')));
    assert.equal(pages, Math.ceil(keys.length / 30), "a cursor only while more rows follow");
  });

  test('a key range, the whole view, and keys written between two pages', async () => {
    const range = await get<Page>('/v1/views/users/rows?from=user-015&to=user-032');
    assert.deepEqual(range.body.rows.map((r) => r.key), sortedKeys((k) => k >= 'user-015' && k < 'user-032'));
    const all = await get<Page>('/v1/views/users/rows?limit=1000');
    assert.deepEqual(all.body.rows.map((r) => r.key), sortedKeys(() => true));
    assert.equal(all.body.cursor, undefined);
    // A page ends at user-009; a key written after it, and one before it, before the next page.
    const first = await get<Page>('/v1/views/users/rows?prefix=user-0&limit=10');
    assert.equal(first.body.rows.at(-1)!.key, 'user-009');
    await log.append('users', [{ key: 'user-009a', value: { n: 9.5 } }, { key: 'user-000a', value: { n: 0.5 } }]);
    await caughtUp();
    const second = await get<Page>(`/v1/views/users/rows?prefix=user-0&limit=3&cursor=${first.body.cursor!}`);
    assert.deepEqual(second.body.rows.map((r) => r.key), ['user-009a', 'user-010', 'user-011']);
    expected.set('user-009a', 9.5);
    expected.set('user-000a', 0.5);
  });

  test('counts, with and without a prefix; a key read alone names its positions in a header', async () => {
    assert.deepEqual((await get<{ count: number }>('/v1/views/users/count?prefix=user-1')).body.count, sortedKeys((k) => k.startsWith('user-1')).length);
    const all = await get<{ count: number; positions: number[] }>('/v1/views/users/count');
    assert.equal(all.body.count, expected.size);
    assert.deepEqual(all.body.positions, log.endOffsets('users'));
    const one = await get<Row>('/v1/views/users/keys/user-150');
    assert.equal(one.body.value.n, 1150);
    assert.equal(one.headers.get('rivulet-positions'), log.endOffsets('users').join(','));
  });

  test('bad queries are refused, naming what is wrong', async () => {
    const cursor = await get<{ error: { code: string; message: string } }>('/v1/views/users/rows?cursor=not-a-cursor');
    assert.equal(cursor.status, 400);
    assert.equal(cursor.body.error.code, 'invalid_cursor');
    const limit = await get<{ error: { code: string; message: string } }>('/v1/views/users/rows?limit=5000');
    assert.equal(limit.status, 400);
    assert.match(limit.body.error.message, /limit/);
    const unknown = await get<{ error: { code: string; message: string } }>('/v1/views/users/rows?sort=desc');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /sort/);
    const view = await get<{ error: { code: string } }>('/v1/views/nope/rows');
    assert.equal(view.status, 404);
    assert.equal(view.body.error.code, 'unknown_view');
  });
});
