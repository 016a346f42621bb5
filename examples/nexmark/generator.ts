/**
 * A deterministic Nexmark event generator, after the rules of Apache Beam's
 * `org.apache.beam.sdk.nexmark.sources.generator` (written anew from the spec, not ported).
 *
 * Event number `n` (0, 1, 2, …) is a function of `n` and the seed alone: its own PRNG is seeded from
 * both, so any range of events can be generated on its own, in any order, with the same result.
 *
 * - kind by `n % 50`: 0 → Person, 1–3 → Auction, 4–49 → Bid (1 : 3 : 46);
 * - persons and auctions are numbered from 1000 (`1000 + floor(n / 50)` for the person of event n,
 *   three auctions per 50 events), categories 10 … 14;
 * - a bid goes to the hot auction (the latest auction id rounded down to 100) half of the time, else to
 *   one of the last 100 auctions (or up to 10 ahead); bidders and sellers are hot (the latest person id
 *   rounded down to 100) 3 times in 4, else one of the last 1000 persons (or up to 10 ahead);
 * - prices are log-uniform between 1 and 1,000,000 units, in cents; `reserve = initialBid + price`;
 * - strings are lowercase letters with a space about one time in 13; `extra` pads each event toward
 *   ~200 B (person), ~500 B (auction), ~100 B (bid) in Beam's size accounting;
 * - event time `baseTime + floor(n · interEventDelayUs / 1000)` (10,000 events/s by default), in order;
 *   an auction expires 1 ms to two "horizons" (the time of 1,666 events) after it opens.
 *
 * Strings are cut from a precomputed pool of random text (`substring` of a flat string is a cheap
 * slice in V8), so that generating is far faster than any query over the events.
 *
 * @example
 * ```ts
 * const events = generateEvents(20_000, { seed: 7 });
 * ```
 *
 * @module
 */
import { taskForKey } from 'rivulet';
import type { Auction, Bid, NexmarkEvent, Person } from './events.js';

/** Settings of the generator; every one has Beam's default. */
export interface GeneratorConfig {
  /** Seed of the whole sequence. Default 0. */
  seed?: number;
  /** Event time of event 0, epoch ms. Default 2024-01-01T00:00:00Z. */
  baseTime?: number;
  /** Events per second of event time (sets the inter-event delay). Default 10,000. */
  eventsPerSecond?: number;
  /** Average byte sizes `extra` pads toward. Defaults 200, 500, 100. */
  avgPersonByteSize?: number;
  avgAuctionByteSize?: number;
  avgBidByteSize?: number;
  /** A bid goes to the hot auction unless `nextInt(ratio) == 0`. Default 2 (half of the bids). */
  hotAuctionRatio?: number;
  /** A seller is hot unless `nextInt(ratio) == 0`. Default 4 (3 in 4). */
  hotSellersRatio?: number;
  /** A bidder is hot unless `nextInt(ratio) == 0`. Default 4 (3 in 4). */
  hotBiddersRatio?: number;
  /** How many recent auctions a cold bid chooses from. Default 100. */
  numInFlightAuctions?: number;
  /** How many recent persons a cold bidder or seller is chosen from. Default 1000. */
  numActivePeople?: number;
}

export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
export const NUM_CATEGORIES = 5;
export const PROPORTION_DENOMINATOR = 50;
const PERSON_PROPORTION = 1;
const AUCTION_PROPORTION = 3;
/** Hot auctions, bidders and sellers are ids rounded down to a multiple of these. */
const HOT_AUCTION_RATIO = 100;
const HOT_PERSON_RATIO = 100;
/** Cold picks may reach this many ids past the latest one (persons and auctions not yet created). */
const ID_LEAD = 10;
const HOT_CHANNELS_RATIO = 100;
const CHANNELS_NUMBER = 10_000;

export const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'] as const;
export const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'] as const;
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];

// ---- PRNG: mulberry32 with its state in a module variable (no closure or object per event). ----

let rs = 0;

/** Seeds the PRNG for event `n` of the sequence `seed` (a 32-bit hash of both). */
function seedFor(seed: number, n: number): void {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(n | 0, 0x85ebca6b) ^ Math.imul(Math.floor(n / 4294967296), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  rs = h ^ (h >>> 16);
}

/** The next 32 random bits, as an unsigned integer. */
function nextU32(): number {
  rs = (rs + 0x6d2b79f5) | 0;
  let t = Math.imul(rs ^ (rs >>> 15), 1 | rs);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (t ^ (t >>> 14)) >>> 0;
}

/** A uniform integer in [0, bound). */
function nextInt(bound: number): number {
  return Math.floor((nextU32() / 4294967296) * bound);
}

/** A uniform double in [0, 1). */
function nextDouble(): number {
  return nextU32() / 4294967296;
}

// ---- Random text, precomputed. ----

const POOL_SIZE = 1 << 17;
const POOL: string = (() => {
  let s = 0x2545f491;
  const codes = new Uint8Array(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const r = (s >>> 0) % (13 * 26);
    // A space one time in 13, else a letter.
    codes[i] = r < 26 ? 32 : 97 + (r % 26);
  }
  // Flatten into one sequential string, so that substrings are slices of it.
  return Buffer.from(codes).toString('latin1');
})();

/** Exactly `length` random characters. */
function exactString(length: number): string {
  if (length <= 0) return '';
  const off = nextInt(POOL_SIZE - length);
  return POOL.substring(off, off + length);
}

/** Between 3 and `maxLength − 1` random characters, trimmed (Beam's `nextString`). */
function randomString(maxLength: number): string {
  return exactString(3 + nextInt(maxLength - 3)).trim();
}

/** Padding that brings an event of `currentSize` bytes to `desiredAverage` on average (±20 %). */
function extra(currentSize: number, desiredAverage: number): string {
  if (currentSize > desiredAverage) return '';
  const rest = desiredAverage - currentSize;
  const delta = Math.round(rest * 0.2);
  return exactString(rest - delta + (delta === 0 ? 0 : nextInt(2 * delta)));
}

const DIGITS4: string[] = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0'));

/** Channel names and URLs; channel i's URL is derived from i, so the cache does not affect determinism. */
function channelUrl(i: number): string {
  let s = (i * 2654435761) >>> 0 || 1;
  const part = (len: number) => {
    let out = '';
    for (let k = 0; k < len; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out += String.fromCharCode(97 + ((s >>> 0) % 26));
    }
    return out;
  };
  return `https://www.nexmark.com/${part(5)}/${part(5)}/${part(5)}/item.htm?query=1`;
}
const HOT_URLS = HOT_CHANNELS.map((_, i) => channelUrl(CHANNELS_NUMBER + i));
const coldChannels = new Map<number, [string, string]>();
function coldChannel(i: number): [string, string] {
  let c = coldChannels.get(i);
  if (c === undefined) {
    const reversed = String(i).split('').reverse().join('');
    c = [`channel-${i}`, `${channelUrl(i)}&channel_id=${reversed}`];
    coldChannels.set(i, c);
  }
  return c;
}

// ---- Ids. ----

/** The base-0 id of the latest person created at or before event n. */
export function lastBase0PersonId(n: number): number {
  const epoch = Math.floor(n / PROPORTION_DENOMINATOR);
  let offset = n % PROPORTION_DENOMINATOR;
  if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1;
  return epoch * PERSON_PROPORTION + offset;
}

/** The base-0 id of the latest auction created at or before event n (−1 before the first). */
export function lastBase0AuctionId(n: number): number {
  let epoch = Math.floor(n / PROPORTION_DENOMINATOR);
  let offset = n % PROPORTION_DENOMINATOR;
  if (offset < PERSON_PROPORTION) {
    epoch--;
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
    offset = AUCTION_PROPORTION - 1;
  } else {
    offset -= PERSON_PROPORTION;
  }
  return epoch * AUCTION_PROPORTION + offset;
}

interface Resolved {
  seed: number;
  baseTime: number;
  interEventDelayUs: number;
  avgPerson: number;
  avgAuction: number;
  avgBid: number;
  hotAuctionRatio: number;
  hotSellersRatio: number;
  hotBiddersRatio: number;
  inFlightAuctions: number;
  activePeople: number;
}

function resolve(c: GeneratorConfig): Resolved {
  const rate = c.eventsPerSecond ?? 10_000;
  if (!(rate > 0)) throw new RangeError(`eventsPerSecond must be > 0, got ${rate}`);
  return {
    seed: (c.seed ?? 0) | 0,
    baseTime: c.baseTime ?? Date.UTC(2024, 0, 1),
    interEventDelayUs: 1_000_000 / rate,
    avgPerson: c.avgPersonByteSize ?? 200,
    avgAuction: c.avgAuctionByteSize ?? 500,
    avgBid: c.avgBidByteSize ?? 100,
    hotAuctionRatio: c.hotAuctionRatio ?? 2,
    hotSellersRatio: c.hotSellersRatio ?? 4,
    hotBiddersRatio: c.hotBiddersRatio ?? 4,
    inFlightAuctions: c.numInFlightAuctions ?? 100,
    activePeople: c.numActivePeople ?? 1000,
  };
}

/** A recent person (base 0), possibly up to {@link ID_LEAD} ahead of the latest. */
function coldPerson(n: number, cfg: Resolved): number {
  const numPeople = lastBase0PersonId(n) + 1;
  const active = Math.min(numPeople, cfg.activePeople);
  return numPeople - active + nextInt(active + ID_LEAD);
}

/** A recent auction (base 0), possibly up to {@link ID_LEAD} ahead of the latest. */
function coldAuction(n: number, cfg: Resolved): number {
  const max = lastBase0AuctionId(n);
  const min = Math.max(max - cfg.inFlightAuctions, 0);
  return min + nextInt(max - min + 1 + ID_LEAD);
}

function price(): number {
  return Math.round(10 ** (nextDouble() * 6) * 100);
}

/**
 * Generates Nexmark events by number. Keep one per configuration; `fill` is the fast path.
 */
export class NexmarkGenerator {
  private readonly cfg: Resolved;
  /** Events between an auction's creation and the end of its "horizon" (Beam: in-flight auctions · 50 / 3). */
  private readonly horizonEvents: number;

  constructor(config: GeneratorConfig = {}) {
    this.cfg = resolve(config);
    this.horizonEvents = Math.floor((this.cfg.inFlightAuctions * PROPORTION_DENOMINATOR) / AUCTION_PROPORTION);
  }

  /** Event time of event n, epoch ms. */
  timeOf(n: number): number {
    return this.cfg.baseTime + Math.floor((n * this.cfg.interEventDelayUs) / 1000);
  }

  /** Event n. */
  event(n: number): NexmarkEvent {
    seedFor(this.cfg.seed, n);
    const rem = n % PROPORTION_DENOMINATOR;
    const t = this.timeOf(n);
    if (rem < PERSON_PROPORTION) return this.person(n, t);
    if (rem < PERSON_PROPORTION + AUCTION_PROPORTION) return this.auction(n, t);
    return this.bid(n, t);
  }

  /** Appends events `from … from + count − 1` to `out` (a new array by default) and returns it. */
  fill(from: number, count: number, out: NexmarkEvent[] = []): NexmarkEvent[] {
    const end = from + count;
    for (let n = from; n < end; n++) out.push(this.event(n));
    return out;
  }

  /** Events from `from` on, generated `chunk` at a time; endless unless `count` is given. */
  *events(from = 0, count = Infinity, chunk = 4096): Generator<NexmarkEvent> {
    const end = from + count;
    const buf: NexmarkEvent[] = [];
    for (let n = from; n < end; n += chunk) {
      buf.length = 0;
      this.fill(n, Math.min(chunk, end - n), buf);
      yield* buf;
    }
  }

  private person(n: number, t: number): Person {
    const name = `${FIRST_NAMES[nextInt(FIRST_NAMES.length)]!} ${LAST_NAMES[nextInt(LAST_NAMES.length)]!}`;
    const emailAddress = `${randomString(7)}@${randomString(5)}.com`;
    const creditCard = `${DIGITS4[nextInt(10_000)]!} ${DIGITS4[nextInt(10_000)]!} ${DIGITS4[nextInt(10_000)]!} ${DIGITS4[nextInt(10_000)]!}`;
    const city = US_CITIES[nextInt(US_CITIES.length)]!;
    const state = US_STATES[nextInt(US_STATES.length)]!;
    const size = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    return {
      type: 'person', id: FIRST_PERSON_ID + lastBase0PersonId(n), name, emailAddress, creditCard, city, state, dateTime: t,
      extra: extra(size, this.cfg.avgPerson),
    };
  }

  private auction(n: number, t: number): Auction {
    const cfg = this.cfg;
    const seller = nextInt(cfg.hotSellersRatio) > 0
      ? Math.floor(lastBase0PersonId(n) / HOT_PERSON_RATIO) * HOT_PERSON_RATIO
      : coldPerson(n, cfg);
    const category = FIRST_CATEGORY_ID + nextInt(NUM_CATEGORIES);
    const initialBid = price();
    const horizonMs = this.timeOf(n + this.horizonEvents) - t;
    const expires = t + 1 + nextInt(Math.max(horizonMs * 2, 1));
    const itemName = randomString(20);
    const description = randomString(100);
    const reserve = initialBid + price();
    const size = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
    return {
      type: 'auction', id: FIRST_AUCTION_ID + lastBase0AuctionId(n), itemName, description, initialBid, reserve, dateTime: t, expires,
      seller: FIRST_PERSON_ID + seller, category, extra: extra(size, cfg.avgAuction),
    };
  }

  private bid(n: number, t: number): Bid {
    const cfg = this.cfg;
    const auction = nextInt(cfg.hotAuctionRatio) > 0
      ? Math.floor(lastBase0AuctionId(n) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
      : coldAuction(n, cfg);
    const bidder = nextInt(cfg.hotBiddersRatio) > 0
      ? Math.floor(lastBase0PersonId(n) / HOT_PERSON_RATIO) * HOT_PERSON_RATIO + 1
      : coldPerson(n, cfg);
    const p = price();
    let channel: string;
    let url: string;
    if (nextInt(HOT_CHANNELS_RATIO) > 0) {
      const i = nextInt(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[i]!;
      url = HOT_URLS[i]!;
    } else {
      const c = coldChannel(nextInt(CHANNELS_NUMBER));
      channel = c[0];
      url = c[1];
    }
    return {
      type: 'bid', auction: FIRST_AUCTION_ID + auction, bidder: FIRST_PERSON_ID + bidder, price: p, channel, url, dateTime: t,
      extra: extra(32, cfg.avgBid),
    };
  }
}

/** Events `from … from + count − 1` of the sequence a configuration defines, in an array. */
export function generateEvents(count: number, config: GeneratorConfig = {}, from = 0): NexmarkEvent[] {
  return new NexmarkGenerator(config).fill(from, count, []);
}

/**
 * One task's share of a Nexmark run split over `tasks` tasks: the events whose number is `task` modulo
 * `tasks` (each share in event-time order, as Beam splits its generator), generated into an array, as
 * the `inputs` of `runParallel`: `{ module: …generator.js, export: 'nexmarkShare', args: { events: 1e6 } }`.
 * With `lazy` the events are generated as the task reads them (the generator runs in the measured time).
 * With `byAuction` the stream is dealt by auction ({@link auctionKey}) instead: a `keyBy` on the
 * auction finds every event already at its task (as in a topic partitioned by auction).
 */
export function nexmarkShare(task: number, tasks: number, args: { events: number; config?: GeneratorConfig; topic?: string; lazy?: boolean; byAuction?: boolean }): Record<string, Iterable<NexmarkEvent>> {
  const gen = new NexmarkGenerator(args.config);
  if (args.byAuction) {
    // Co-partitioned by auction: every event generated, kept by the task that owns its auction.
    const out: NexmarkEvent[] = [];
    for (let n = 0; n < args.events; n++) {
      const e = gen.event(n);
      if (taskForKey(auctionKey(e), tasks) === task) out.push(e);
    }
    return { [args.topic ?? 'nexmark']: out };
  }
  if (args.lazy) {
    return {
      [args.topic ?? 'nexmark']: {
        *[Symbol.iterator]() {
          for (let n = task; n < args.events; n += tasks) yield gen.event(n);
        },
      },
    };
  }
  const out: NexmarkEvent[] = [];
  for (let n = task; n < args.events; n += tasks) out.push(gen.event(n));
  return { [args.topic ?? 'nexmark']: out };
}

/** The auction an event is about: an auction's id, a bid's auction; a person's id (persons belong to no auction). */
export function auctionKey(e: NexmarkEvent): number {
  return e.type === 'bid' ? e.auction : e.id;
}

/** Measures the generator alone: events/s over `count` events into one array (run this file with tsx). */
export function measureGenerator(count = 2_000_000, config: GeneratorConfig = {}): { events: number; seconds: number; eventsPerSecond: number } {
  const gen = new NexmarkGenerator(config);
  gen.fill(0, 50_000, []); // warm-up
  const out: NexmarkEvent[] = [];
  const started = performance.now();
  gen.fill(0, count, out);
  const seconds = (performance.now() - started) / 1000;
  return { events: out.length, seconds, eventsPerSecond: out.length / seconds };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const r = measureGenerator(Number(process.argv[2] ?? 2_000_000));
  console.log(`${r.events} events in ${r.seconds.toFixed(2)} s: ${Math.round(r.eventsPerSecond).toLocaleString('en')} events/s`);
}
