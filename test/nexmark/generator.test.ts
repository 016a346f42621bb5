import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Auction, Bid, NexmarkEvent, Person } from '../../examples/nexmark/events.js';
import { generateEvents, lastBase0AuctionId, lastBase0PersonId, NexmarkGenerator } from '../../examples/nexmark/generator.js';

const N = 50_000;
const events = generateEvents(N, { seed: 42 });
const persons = events.filter((e): e is Person => e.type === 'person');
const auctions = events.filter((e): e is Auction => e.type === 'auction');
const bids = events.filter((e): e is Bid => e.type === 'bid');

test('the kind of event n follows n % 50: 1 person, 3 auctions, 46 bids', () => {
  events.forEach((e, n) => {
    const rem = n % 50;
    assert.equal(e.type, rem === 0 ? 'person' : rem < 4 ? 'auction' : 'bid', `event ${n}`);
  });
  assert.equal(persons.length, N / 50);
  assert.equal(auctions.length, (3 * N) / 50);
  assert.equal(bids.length, (46 * N) / 50);
});

test('ids: persons and auctions numbered from 1000 in order, references within the recent ones, 5 categories from 10', () => {
  assert.deepEqual(persons.map((p) => p.id), persons.map((_, i) => 1000 + i));
  assert.deepEqual(auctions.map((a) => a.id), auctions.map((_, i) => 1000 + i));
  const categories = new Set<number>();
  events.forEach((e, n) => {
    const lastPerson = 1000 + lastBase0PersonId(n);
    const lastAuction = 1000 + lastBase0AuctionId(n);
    if (e.type === 'auction') {
      categories.add(e.category);
      assert.ok(e.seller >= 1000 && e.seller <= lastPerson + 10, `seller ${e.seller} at ${n}`);
      assert.ok(e.seller >= lastPerson - 1000 || e.seller % 100 === 0);
    } else if (e.type === 'bid') {
      assert.ok(e.auction >= Math.max(1000, lastAuction - 100 - 99) && e.auction <= lastAuction + 10, `auction ${e.auction} at ${n}`);
      assert.ok(e.bidder >= 1000 && e.bidder <= lastPerson + 10, `bidder ${e.bidder} at ${n}`);
    }
  });
  assert.deepEqual([...categories].sort(), [10, 11, 12, 13, 14]);
});

test('deterministic: a seed gives the same events, any range can be generated alone, another seed differs', () => {
  assert.deepEqual(generateEvents(3000, { seed: 42 }), events.slice(0, 3000));
  const gen = new NexmarkGenerator({ seed: 42 });
  assert.deepEqual(gen.fill(31_337, 500), events.slice(31_337, 31_837));
  assert.deepEqual(gen.event(49_999), events[49_999]);
  assert.deepEqual([...gen.events(100, 5000, 777)], events.slice(100, 5100));
  const other = generateEvents(3000, { seed: 43 });
  assert.notDeepEqual(other, events.slice(0, 3000));
  // The structure (kinds, ids, times) does not depend on the seed; the random parts do.
  assert.deepEqual(other.map((e) => e.type), events.slice(0, 3000).map((e) => e.type));
});

test('event time: base + floor(n · 100 µs), never decreasing; auctions expire within two horizons', () => {
  const base = Date.UTC(2024, 0, 1);
  let prev = -Infinity;
  events.forEach((e, n) => {
    assert.equal(e.dateTime, base + Math.floor(n / 10));
    assert.ok(e.dateTime >= prev);
    prev = e.dateTime;
  });
  for (const a of auctions) assert.ok(a.expires > a.dateTime && a.expires <= a.dateTime + 2 * 167 + 1, `auction ${a.id}`);
  const lengths = auctions.map((a) => a.expires - a.dateTime);
  const mean = lengths.reduce((s, x) => s + x, 0) / lengths.length;
  assert.ok(Math.abs(mean - 167) < 10, `mean auction length ${mean} ms`);
  const slow = generateEvents(200, { eventsPerSecond: 1000, baseTime: 0 });
  assert.deepEqual(slow.map((e) => e.dateTime), slow.map((_, n) => n));
});

test('hot keys: half of the bids on the hot auction, 3 in 4 bidders and sellers hot', () => {
  let hotAuction = 0;
  let hotBidder = 0;
  events.forEach((e, n) => {
    if (e.type !== 'bid') return;
    if (e.auction === 1000 + Math.floor(lastBase0AuctionId(n) / 100) * 100) hotAuction++;
    if (e.bidder === 1000 + Math.floor(lastBase0PersonId(n) / 100) * 100 + 1) hotBidder++;
  });
  let hotSeller = 0;
  events.forEach((e, n) => {
    if (e.type === 'auction' && e.seller === 1000 + Math.floor(lastBase0PersonId(n) / 100) * 100) hotSeller++;
  });
  // A cold pick hits the hot id now and then, hence a little above 1/2 and 3/4.
  const near = (x: number, want: number, what: string) => assert.ok(x >= want - 0.02 && x <= want + 0.04, `${what}: ${x.toFixed(3)}`);
  near(hotAuction / bids.length, 0.5, 'bids on the hot auction');
  near(hotBidder / bids.length, 0.75, 'hot bidders');
  near(hotSeller / auctions.length, 0.75, 'hot sellers');
  // The skew shows in the counts: the top auction takes far more bids than the median one.
  const perAuction = new Map<number, number>();
  for (const b of bids) perAuction.set(b.auction, (perAuction.get(b.auction) ?? 0) + 1);
  const counts = [...perAuction.values()].sort((a, b) => b - a);
  assert.ok(counts[0]! > 50 * counts[Math.floor(counts.length / 2)]!);
});

test('prices: log-uniform cents between 1 and 1,000,000 units; reserve above the initial bid', () => {
  const logs = bids.map((b) => Math.log10(b.price / 100)).sort((a, b) => a - b);
  assert.ok(bids.every((b) => Number.isInteger(b.price) && b.price >= 100 && b.price <= 100_000_000));
  for (const q of [0.1, 0.25, 0.5, 0.75, 0.9]) {
    const at = logs[Math.floor(q * logs.length)]!;
    assert.ok(Math.abs(at - 6 * q) < 0.1, `quantile ${q}: 10^${at.toFixed(2)}`);
  }
  assert.ok(auctions.every((a) => a.reserve > a.initialBid && a.initialBid >= 100));
});

test('strings and sizes: lowercase text, extra pads toward ~200 / 500 / 100 B', () => {
  const text = /^[a-z ]*$/;
  for (const e of events.slice(0, 5000)) assert.ok(text.test(e.extra));
  for (const a of auctions.slice(0, 500)) assert.ok(text.test(a.itemName) && text.test(a.description));
  for (const p of persons.slice(0, 500)) assert.match(p.emailAddress, /^[a-z ]+@[a-z ]+\.com$/);
  for (const p of persons.slice(0, 500)) assert.match(p.creditCard, /^\d{4} \d{4} \d{4} \d{4}$/);
  const mean = (xs: NexmarkEvent[], size: (e: never) => number) => xs.reduce((s, e) => s + size(e as never), 0) / xs.length;
  // Beam's accounting: 8 B per number plus the string lengths.
  const person = mean(persons, (p: Person) => 8 + p.name.length + p.emailAddress.length + p.creditCard.length + p.city.length + p.state.length + p.extra.length);
  const auction = mean(auctions, (a: Auction) => 8 + a.itemName.length + a.description.length + 40 + a.extra.length);
  const bid = mean(bids, (b: Bid) => 32 + b.extra.length);
  assert.ok(Math.abs(person - 200) < 10, `person ${person}`);
  assert.ok(Math.abs(auction - 500) < 15, `auction ${auction}`);
  assert.ok(Math.abs(bid - 100) < 3, `bid ${bid}`);
  const json = mean(bids, (b: Bid) => JSON.stringify(b).length);
  assert.ok(json > 150 && json < 300, `bid JSON ${json} B`);
});
