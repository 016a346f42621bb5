import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidEventError } from '../../src/core/errors.js';
import { checkEvents, parseBody } from '../../src/serve/ingest.js';

test('a JSON body is one event or an array of events; a broken one is refused whole', () => {
  assert.deepEqual(parseBody('{"a":1}', 'application/json').events.map((e) => e.value), [{ a: 1 }]);
  assert.deepEqual(parseBody('[{"a":1},{"a":2}]', undefined).events.map((e) => e.index), [0, 1]);
  assert.throws(() => parseBody('[{"a":1},', 'application/json'), (e) => e instanceof InvalidEventError && e.code === 'malformed_json');
});

test('NDJSON: a line that is not JSON refuses that event only, and names its line', () => {
  const { events } = parseBody('{"a":1}\n\nnope\n{"a":3}\n', 'application/x-ndjson');
  const checked = checkEvents(events, undefined);
  assert.deepEqual(checked.accepted.map((a) => a.record.value), [{ a: 1 }, { a: 3 }]);
  assert.deepEqual(checked.rejected.map((r) => [r.index, r.line, r.code]), [[1, 3, 'malformed_json']]);
});

test('event time: epoch ms and ISO-8601 are taken; missing, wrong types and bad dates are refused by field', () => {
  const events = parseBody(JSON.stringify([
    { ts: 1_700_000_000_000 },
    { ts: '2024-03-01T12:00:00Z' },
    {},
    { ts: 'soon' },
    { ts: true },
    { ts: '2024-13-45T99:00:00Z' },
    'not an object',
  ]), 'application/json').events;
  const checked = checkEvents(events, { time: ['ts'] });
  assert.deepEqual(checked.accepted.map((a) => a.record.timestamp), [1_700_000_000_000, Date.parse('2024-03-01T12:00:00Z')]);
  assert.deepEqual(checked.rejected.map((r) => [r.index, r.code, r.field ?? null]), [
    [2, 'invalid_event_time', 'ts'],
    [3, 'invalid_event_time', 'ts'],
    [4, 'invalid_event_time', 'ts'],
    [5, 'invalid_event_time', 'ts'],
    [6, 'not_an_object', null],
  ]);
  assert.match(checked.rejected[2]!.message, /'ts' is boolean true/);
});

test('keys come from the declared key field; a key that is an object is refused', () => {
  const events = parseBody('[{"card":"c1"},{"card":7},{"card":{"id":1}},{}]', 'application/json').events;
  const checked = checkEvents(events, { time: [], key: 'card' });
  assert.deepEqual(checked.accepted.map((a) => a.record.key), ['c1', '7', null]);
  assert.deepEqual(checked.rejected.map((r) => [r.index, r.code, r.field]), [[2, 'invalid_key', 'card']]);
});
