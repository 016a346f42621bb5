/**
 * The PostgreSQL sink against a real PostgreSQL server that the test starts on a loopback port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { startRivulet, type RunningRivulet } from '../../src/cli/node.js';
import { postgresSink } from '../../src/connectors/postgres-sink.js';
import { count, sum } from '../../src/engine/aggregates.js';
import { definePipeline } from '../../src/engine/pipeline.js';
import { tumbling } from '../../src/engine/windows.js';
import { feed, readAll } from '../helpers/engine.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

interface Sale { shop: string; ts: number; amount: number }

const sales = definePipeline({
  name: 'sales',
  setup(app) {
    const s = app.stream<Sale>('sales', { time: 'ts', outOfOrderness: 0, partitions: 2 });
    s.keyBy((x) => x.shop).window(tumbling('10s')).aggregate({ n: count(), total: sum((x: Sale) => x.amount) }).to('shop-windows', { partitions: 2 });
  },
});

const sinks = (url: string) => [
  postgresSink({ name: 'windows-pg', topic: 'shop-windows', table: 'shop_windows', rowsBy: 'window', connectionString: url, batchSize: 7 }),
  postgresSink({ name: 'prices-pg', topic: 'prices', table: 'public.prices', connectionString: url }),
];

/** The rows a query returns; none while the sink has not created the table yet. */
async function rows(url: string, sql: string): Promise<unknown[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return [];
    throw err;
  } finally {
    await c.end();
  }
}

describe('postgres sink', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server.stop();
  });

  test('window results become one row per key and window; replaying the whole topic writes no duplicate', async () => {
    const tmp = tempDir();
    let rivulet: RunningRivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [sales], sinks: sinks(server.url) });
    try {
      const events: Sale[] = [];
      for (let i = 0; i < 300; i++) events.push({ shop: `s${i % 4}`, ts: i * 200, amount: i % 7 });
      await feed(rivulet.log, rivulet.engine, 'sales', events.map((value) => ({ key: value.shop, value })));
      const windows = (await readAll(rivulet.log, 'shop-windows')).map((r) => r.value as { key: string; start: number; n: number; total: number });
      assert.ok(windows.length >= 20);
      const expected = windows.map((w) => [w.key, w.start, w.n, w.total]).sort((a, b) => String(a).localeCompare(String(b)));
      const query = `SELECT key, (extract(epoch from window_start) * 1000)::bigint AS start, (value->>'n')::int AS n, (value->>'total')::int AS total FROM shop_windows`;
      const read = async () => (await rows(server.url, query)).map((r) => { const x = r as { key: string; start: string; n: number; total: number }; return [x.key, Number(x.start), x.n, x.total]; })
        .sort((a, b) => String(a).localeCompare(String(b)));
      await waitFor('the window rows', async () => (await read()).length === expected.length);
      assert.deepEqual(await read(), expected);

      // A crash that lost the sink's positions (or a restore of an old backup): everything is written again.
      await rivulet.stop();
      await rows(server.url, `DELETE FROM rivulet_sink_offsets WHERE sink = 'windows-pg'`);
      rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [sales], sinks: sinks(server.url) });
      await waitFor('the replay', () => rivulet.sinks[0]!.status().positions.reduce((a, b) => a + b, 0) === windows.length);
      assert.deepEqual(await read(), expected);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('rows by key follow upserts and deletes; a server that goes down loses nothing', async () => {
    const tmp = tempDir();
    const rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], pipelines: [sales], sinks: sinks(server.url) });
    try {
      await rivulet.log.append('prices', [{ key: 'apple', value: { p: 1 } }, { key: 'pear', value: { p: 2 } }, { key: 'apple', value: { p: 3 } }, { key: 'fig', value: { p: 9 } }]);
      const read = async () => Object.fromEntries((await rows(server.url, 'SELECT key, value FROM prices ORDER BY key')).map((r) => [(r as { key: string }).key, (r as { value: unknown }).value]));
      await waitFor('the price rows', async () => Object.keys(await read()).length === 3);
      assert.deepEqual(await read(), { apple: { p: 3 }, fig: { p: 9 }, pear: { p: 2 } });

      await server.stop({ keep: true });
      await rivulet.log.append('prices', [{ key: 'fig', value: null }, { key: 'kiwi', value: { p: 4 } }]);
      await waitFor('the sink to notice', () => rivulet.sinks[1]!.status().lastError !== undefined);
      await server.restart();
      await waitFor('the rows after the outage', async () => JSON.stringify(await read()) === JSON.stringify({ apple: { p: 3 }, kiwi: { p: 4 }, pear: { p: 2 } }), 30_000);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('records it cannot write go to the dead-letter topic with the reason; the others are written', async () => {
    const tmp = tempDir();
    const rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], sinks: [postgresSink({ name: 'strict', topic: 'odd', table: 'odd_rows', rowsBy: 'window', connectionString: server.url })] });
    try {
      await rivulet.log.append('odd', [
        { key: null, value: { start: 0, end: 1 } },
        { key: 'a', value: { start: 'x' } },
        { key: 'b', value: { start: 0, end: 10 } },
        // What only PostgreSQL refuses: a NUL in a JSON string, a time out of its range, a NUL in a key.
        { key: 'c', value: { start: 0, end: 10, note: 'nul \u0000 here' } },
        { key: 'd', value: { start: 1e300, end: 1e300 } },
        { key: 'e\u0000', value: { start: 0, end: 10 } },
        { key: 'f', value: { start: 10, end: 20 } },
      ]);
      await waitFor('the good rows', async () => (await rows(server.url, 'SELECT key FROM odd_rows')).length === 2);
      const dead = await waitFor('the dead letters', async () => {
        const d = (await readAll(rivulet.log, '_deadletter')).map((r) => r.value as { sink: string; code: string; offset: number });
        return d.length >= 5 ? d : undefined;
      });
      assert.deepEqual(dead.map((d) => `${d.sink} ${d.code}`).sort(), [
        'strict sink_invalid_key', 'strict sink_needs_key', 'strict sink_needs_window', 'strict sink_rejected', 'strict sink_rejected',
      ]);
      assert.deepEqual((await rows(server.url, 'SELECT key FROM odd_rows ORDER BY key')).map((r) => (r as { key: string }).key), ['b', 'f']);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('a topic deleted and created again is written from its start, not from the old positions', async () => {
    const tmp = tempDir();
    const rivulet = await startRivulet({ dataDir: tmp.dir, port: 0, anonymous: ['admin'], sinks: [postgresSink({ name: 'again', topic: 'stock', table: 'stock', connectionString: server.url })] });
    try {
      await rivulet.log.append('stock', [{ key: 'a', value: 1 }, { key: 'b', value: 1 }, { key: 'c', value: 1 }]);
      const read = async () => JSON.stringify((await rows(server.url, 'SELECT key, value FROM stock ORDER BY key')).map((r) => [(r as { key: string }).key, (r as { value: number }).value]));
      await waitFor('the first rows', async () => (await read()) === '[["a",1],["b",1],["c",1]]');
      await rivulet.log.deleteTopic('stock');
      await new Promise((r) => setTimeout(r, 5));
      await rivulet.log.createTopic('stock');
      await rivulet.log.append('stock', [{ key: 'a', value: 2 }, { key: 'b', value: 2 }]);
      await waitFor('the rows of the new topic', async () => (await read()) === '[["a",2],["b",2],["c",1]]', 30_000);
    } finally {
      await rivulet.stop();
      tmp.remove();
    }
  });

  test('a table name that is not an identifier is refused when the sink is declared', () => {
    assert.throws(() => postgresSink({ name: 'x', topic: 't', table: 'rows; DROP TABLE users', connectionString: server.url }), /table must be 'name' or 'schema.name'/);
    assert.throws(() => postgresSink({ name: 'x', topic: 't', table: 'ok', rowsBy: 'month' as never, connectionString: server.url }), /rowsBy must be 'key' or 'window'/);
  });
});
