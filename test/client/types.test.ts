/**
 * Types from a pipeline reach the client: `TopicsOf<typeof pipeline>` gives each output topic's value
 * type, and `createClient<…>` types records, rows and ingested events. The `@ts-expect-error` lines
 * make the type check (`tsc`, part of `npm test`) fail if a wrong use stops being an error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, type TopicRecord } from '../../src/client/mod.js';
import { count, definePipeline, sum, tumbling, type TopicsOf } from '../../src/mod.js';
import { PipelineBuilder } from '../../src/engine/pipeline.js';

interface Payment { card: string; amount: number; ts: number }

const fraud = definePipeline({
  name: 'typed-fraud',
  setup(app) {
    const payments = app.stream<Payment>('payments', { time: 'ts' });
    const big = payments.filter((p) => p.amount > 5_000).to('big-payments');
    const perCard = payments.keyBy((p) => p.card).window(tumbling('1m')).aggregate({ n: count(), total: sum((p: Payment) => p.amount) }).to('card-totals');
    return [big, perCard];
  },
});

type Topics = TopicsOf<typeof fraud> & { payments: Payment };

test('TopicsOf gives the value type of each topic a pipeline returns', () => {
  const big: Topics['big-payments'] = { card: 'c1', amount: 9_000, ts: 0 };
  const total: Topics['card-totals'] = { key: 'c1', start: 0, end: 60_000, n: 2, total: 10 };
  // @ts-expect-error: the amount of a payment is a number
  const wrong: Topics['big-payments'] = { card: 'c1', amount: '9000', ts: 0 };
  // @ts-expect-error: the pipeline has no such topic
  const missing: Topics['no-such-topic'] = {};
  assert.ok(big && total && wrong && missing !== undefined);
  // setup returns the topics it wrote, by name.
  const outputs = fraud.setup(new PipelineBuilder('typed-fraud'));
  assert.deepEqual(outputs, [{ topic: 'big-payments' }, { topic: 'card-totals' }]);
});

test('the client is typed by the topics it is given', () => {
  const client = createClient<Topics>({ url: 'http://127.0.0.1:9', reconnect: false, WebSocket: class { readyState = 0; onopen = null; onmessage = null; onclose = null; onerror = null; send() {} close() {} } });
  const cards: string[] = [];
  const sub = client.subscribe('big-payments', { onRecords: (records: TopicRecord<Payment>[]) => cards.push(...records.map((r) => r.value.card)) });
  // @ts-expect-error: a payment has no field 'cardd'
  client.subscribe('big-payments', { onRecords: (records) => records.map((r) => r.value.cardd) });
  // @ts-expect-error: not a topic of these pipelines
  client.subscribe('alerts', { onRecords: () => undefined });
  // @ts-expect-error: ingest takes the topic's type
  void client.ingest('payments', [{ card: 'c1' }]).catch(() => undefined);
  void client.ingest('payments', [{ card: 'c1', amount: 1, ts: 0 }]).catch(() => undefined);
  const view = client.subscribeView('card-totals', { onChange: (rows) => [...rows.values()].map((r) => r.value.total.toFixed(2)) });
  sub.close();
  view.close();
  client.close();
  assert.deepEqual(cards, []);
});
