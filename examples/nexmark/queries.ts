/**
 * Nexmark queries q0 – q9, q11 and q12 as Rivulet pipelines, written with the public API only.
 *
 * Every query reads the one topic {@link NEXMARK_TOPIC}, which carries all three kinds of events in
 * the generator's order (as Beam's and Flink's Nexmark sources do), with `dateTime` as the event time,
 * and writes its answer to the topic named after it (`'q0'`, `'q1'`, …). Run one over generated events:
 *
 * ```ts
 * const { outputs } = runBounded(q5, { [NEXMARK_TOPIC]: generateEvents(20_000) });
 * ```
 *
 * Where a query needs something the API lacks, its comment says what (see also docs/benchmarks.md).
 *
 * @module
 */
import {
  avg, count, definePipeline, hopping, listState, session, tumbling, valueState,
  type Aggregate, type PipelineDefinition, type ProcessFunction, type Stream,
} from 'rivulet';
import type { Auction, Bid, NexmarkEvent, Person } from './events.js';

/** The topic every query reads. */
export const NEXMARK_TOPIC = 'nexmark';

/**
 * How far the watermark stays behind the largest event time (Flink's Nexmark uses 4 s). The generator's
 * events are in order; at least 2 ms are needed because 10 events share each millisecond at the
 * default rate and a session that would merge with an event at exactly `last + gap` must still be open.
 */
export const OUT_OF_ORDERNESS = '4s';

function events(app: Parameters<PipelineDefinition['setup']>[0]): Stream<NexmarkEvent> {
  return app.stream<NexmarkEvent>(NEXMARK_TOPIC, { time: 'dateTime', outOfOrderness: OUT_OF_ORDERNESS });
}

// A type guard narrows the stream (`filter<S extends T>(p: (e: T) => e is S): Stream<S>`); where a
// kind test is combined with another condition, the result is narrowed with a cast instead, since a
// guard that is false for some auctions would claim they are not auctions.
function bids(s: Stream<NexmarkEvent>): Stream<Bid> {
  return s.filter((e): e is Bid => e.type === 'bid');
}
function auctions(s: Stream<NexmarkEvent>, where?: (a: Auction) => boolean): Stream<Auction> {
  const pred = where ?? (() => true);
  return s.filter((e) => e.type === 'auction' && pred(e)) as unknown as Stream<Auction>;
}
function persons(s: Stream<NexmarkEvent>, where?: (p: Person) => boolean): Stream<Person> {
  const pred = where ?? (() => true);
  return s.filter((e) => e.type === 'person' && pred(e)) as unknown as Stream<Person>;
}

/** q0: pass-through — every bid, as it is. */
export const q0: PipelineDefinition = definePipeline({
  name: 'nexmark-q0',
  setup(app) {
    bids(events(app)).to('q0');
  },
});

/** A bid of q1, its price in another currency. */
export interface Q1Row { auction: number; bidder: number; price: number; dateTime: number; extra: string }

/** q1: currency conversion — every bid with `price · 0.908`. */
export const q1: PipelineDefinition = definePipeline({
  name: 'nexmark-q1',
  setup(app) {
    bids(events(app))
      .map((b): Q1Row => ({ auction: b.auction, bidder: b.bidder, price: b.price * 0.908, dateTime: b.dateTime, extra: b.extra }))
      .to('q1');
  },
});

/** q2: selection — the bids on every 123rd auction, as (auction, price). */
export const q2: PipelineDefinition = definePipeline({
  name: 'nexmark-q2',
  setup(app) {
    bids(events(app))
      .filter((b) => b.auction % 123 === 0)
      .map((b) => ({ auction: b.auction, price: b.price }))
      .to('q2');
  },
});

/** A row of q3. */
export interface Q3Row { name: string; city: string; state: string; id: number }

/**
 * q3: local item suggestion — auctions of category 10 whose seller lives in OR, ID or CA, with the
 * seller's name, city and state: an unbounded inner join of persons and auctions on `id = seller`.
 *
 * Rivulet has no symmetric unbounded (regular) join: `joinTable` only looks a stream event up in the
 * table as it is when the event arrives, and the generator does create sellers *after* some of their
 * auctions (cold sellers may be up to 10 persons ahead). So the join is a keyed `process` over both
 * sides (keyed by person id): a person is kept, and auctions that arrive before their seller wait for it.
 */
export const q3: PipelineDefinition = definePipeline({
  name: 'nexmark-q3',
  setup(app) {
    // One filter for both sides (see `winningBids`).
    (events(app).filter((e) => (e.type === 'person' && (e.state === 'OR' || e.state === 'ID' || e.state === 'CA'))
      || (e.type === 'auction' && e.category === 10)) as unknown as Stream<Person | Auction>)
      .keyBy((e) => (e.type === 'person' ? e.id : e.seller))
      .process({
        state: { person: valueState<Person>(), waiting: listState<Auction>() },
        onEvent(e, ctx) {
          if (e.type === 'person') {
            ctx.state.person.set(e);
            for (const a of ctx.state.waiting.get()) ctx.emit({ name: e.name, city: e.city, state: e.state, id: a.id } satisfies Q3Row);
            ctx.state.waiting.clear();
            return;
          }
          const p = ctx.state.person.get();
          if (p === undefined) ctx.state.waiting.add(e);
          else ctx.emit({ name: p.name, city: p.city, state: p.state, id: e.id } satisfies Q3Row);
        },
      })
      .to('q3', { view: false });
  },
});

/** The winning bid of a closed auction, with the auction (the output of q9, an intermediate of q4 and q6). */
export interface WinningBid { auction: Auction; bid: Bid }

/**
 * A valid bid: placed while the auction was open (`dateTime ≤ bid < expires`) at or above its reserve.
 * Beam's `WinningBids` rule, shared by q4, q6, q9 and their tests.
 */
export function isValidBid(a: Auction, b: Bid): boolean {
  return b.dateTime >= a.dateTime && b.dateTime < a.expires && b.price >= a.reserve;
}

/**
 * Whether bid `b` beats the best so far: a higher price, or the same price placed earlier (Beam's
 * q9 order). On the same price and time the first seen stays.
 */
export function beats(b: Bid, best: Bid | undefined): boolean {
  return best === undefined || b.price > best.price || (b.price === best.price && b.dateTime < best.dateTime);
}

/**
 * q4: average price per category — for each auction that closed with a valid bid, its highest one;
 * then per category the running average of those winning prices (a changelog, latest per category).
 *
 * The winning bid ({@link winningBids}, shared with q6 and q9) is a keyed `process` over auctions and
 * bids by auction id, with an event-time timer at `expires`. No window kind fits: each auction has its
 * own lifetime. Bids that arrive before their auction (the generator bids on auctions up to 10 ids
 * ahead: 17 ms ahead at 10,000 events/s) wait in a list for up to 60 s of event time; bids on an
 * auction that closed are dropped (a marker kept for 60 s after closing says so; later ones wait in
 * the list and expire with it).
 */
export const q4: PipelineDefinition = definePipeline({
  name: 'nexmark-q4',
  setup(app) {
    winningBids(events(app))
      .keyBy((w) => w.auction.category)
      .aggregate({ avg: avg((w: WinningBid) => w.bid.price) })
      .to('q4');
  },
});

/**
 * The winning bid of each auction that closed with a valid bid, at its `expires` (event time): the
 * highest valid bid, the earliest of equal ones ({@link beats}). q4, q6 and q9 read it.
 *
 * Auctions and bids are taken from the stream by one filter, so they reach the keyed `process` in
 * event order. (Two filtered branches merged with `union` give the same answer — a union passes events
 * on in the order of their watermarks — at the cost of holding each batch's events until its watermark.)
 */
export function winningBids(all: Stream<NexmarkEvent>): Stream<WinningBid> {
  return (all.filter((e) => e.type !== 'person') as unknown as Stream<Auction | Bid>)
    .keyBy((e) => (e.type === 'auction' ? e.id : e.auction))
    .process(winningBid);
}

const winningBidState = {
  auction: valueState<Auction>(),
  best: valueState<Bid>(),
  /** Set when the auction closed: later bids on it are not valid (dropped, not kept as early). */
  closed: valueState<true>({ ttl: '60s' }),
  early: listState<Bid>({ ttl: '60s' }),
};

/**
 * The keyed `process` function of {@link winningBids}, per auction id: the auction, its best valid
 * bid so far, bids that came before it, and a timer at `expires` that emits the winner.
 */
export const winningBid: ProcessFunction<Auction | Bid, number, WinningBid, typeof winningBidState> = {
  state: winningBidState,
  onEvent(e, ctx) {
    if (e.type === 'auction') {
      let best: Bid | undefined;
      for (const b of ctx.state.early.get()) if (isValidBid(e, b) && beats(b, best)) best = b;
      ctx.state.early.clear();
      ctx.state.auction.set(e);
      if (best !== undefined) ctx.state.best.set(best);
      ctx.timers.atEventTime(e.expires);
      return;
    }
    const a = ctx.state.auction.get();
    if (a === undefined) {
      // Before its auction (or after it closed more than 60 s ago: not valid, and it expires with the list).
      if (ctx.state.closed.get() === undefined) ctx.state.early.add(e);
      return;
    }
    if (isValidBid(a, e) && beats(e, ctx.state.best.get())) ctx.state.best.set(e);
  },
  onTimer(_t, ctx) {
    const auction = ctx.state.auction.get();
    const bid = ctx.state.best.get();
    if (auction !== undefined && bid !== undefined) ctx.emit({ auction, bid });
    ctx.state.auction.clear();
    ctx.state.best.clear();
    ctx.state.closed.set(true);
  },
};

/** A row of q6: a seller's average winning price over its last (up to) 10 closed auctions, after `auction` closed. */
export interface Q6Row { seller: number; auction: number; avg: number }

/** How many of a seller's closed auctions q6 averages over. */
export const Q6_LAST = 10;

/**
 * q6: average selling price by seller — on each auction that closed with a winning bid, the average
 * winning price of its seller's last {@link Q6_LAST} such auctions (fewer at first). Auctions without
 * a valid bid are not counted (Beam's q6 reads the winning bids).
 *
 * "Last" is the order in which auctions close: by `expires`, and by auction id among auctions that
 * close in the same millisecond (common: a hot seller has dozens of auctions open at once). The winning
 * bids of one millisecond reach the keyed `process` in no defined order (timers of equal time fire in
 * heap order), so they wait in a list for an event-time timer at their close time — which fires once
 * all of them have arrived, since they were emitted under a watermark before it — and are taken in
 * auction-id order. Without that step the intermediate averages would depend on timer order.
 */
export const q6: PipelineDefinition = definePipeline({
  name: 'nexmark-q6',
  setup(app) {
    winningBids(events(app))
      .keyBy((w) => w.auction.seller)
      .process({
        state: { pending: listState<WinningBid>(), last: valueState<number[]>() },
        onEvent(w, ctx) {
          ctx.state.pending.add(w);
          ctx.timers.atEventTime(w.auction.expires);
        },
        onTimer(t, ctx) {
          const due: WinningBid[] = [];
          const rest: WinningBid[] = [];
          for (const w of ctx.state.pending.get()) (w.auction.expires <= t.time ? due : rest).push(w);
          if (rest.length > 0) ctx.state.pending.set(rest);
          else ctx.state.pending.clear();
          due.sort((x, y) => x.auction.expires - y.auction.expires || x.auction.id - y.auction.id);
          let last = ctx.state.last.get() ?? [];
          for (const w of due) {
            last = last.length < Q6_LAST ? [...last, w.bid.price] : [...last.slice(1), w.bid.price];
            let sum = 0;
            for (const p of last) sum += p;
            ctx.emit({ seller: w.auction.seller, auction: w.auction.id, avg: sum / last.length } satisfies Q6Row);
          }
          ctx.state.last.set(last);
        },
      })
      .to('q6');
  },
});

/**
 * q9: winning bids — for each auction that closed with a valid bid, the auction and its winning bid
 * (highest price, earliest on equal price), emitted when the auction closes ({@link winningBids}).
 */
export const q9: PipelineDefinition = definePipeline({
  name: 'nexmark-q9',
  setup(app) {
    winningBids(events(app)).to('q9');
  },
});

/** A row of q5: an auction with the most bids of a window. */
export interface Q5Row { auction: number; count: number; start: number; end: number }

interface CountRow { key: number; start: number; end: number; n: number }
/**
 * The rows of a window with the largest `score`, ties included (a user-defined {@link Aggregate}; the
 * engine's `topN` keeps a fixed number instead).
 */
function allWithMax<T>(score: (row: T) => number): Aggregate<T, [max: number, rows: T[]], T[]> {
  return {
    // An empty accumulator has no maximum (and stays JSON: no -Infinity in checkpoints).
    create: () => [0, []],
    add: (acc, r) => {
      const x = score(r);
      if (acc[1].length === 0 || x > acc[0]) return [x, [r]];
      if (x === acc[0]) acc[1].push(r);
      return acc;
    },
    merge: (a, b) => (a[1].length === 0 ? b : b[1].length === 0 ? a : a[0] > b[0] ? a : b[0] > a[0] ? b : [a[0], [...a[1], ...b[1]]]),
    result: (acc) => acc[1],
  };
}

/** The rows of a window with the most bids, ties included. */
const topCounts = allWithMax((r: CountRow) => r.n);

/**
 * q5: hot items — bids per auction in hopping windows of 10 s every 2 s, and per window the auctions
 * with the most bids (all of them on a tie). The counts of a window all have event time `end − 1`, so
 * a second, 2 s tumbling window keyed by the window's start collects exactly them.
 */
export const q5: PipelineDefinition = definePipeline({
  name: 'nexmark-q5',
  setup(app) {
    bids(events(app))
      .keyBy((b) => b.auction)
      .window(hopping('10s', '2s'))
      .aggregate({ n: count() })
      .keyBy((c) => c.start)
      .window(tumbling('2s'))
      .aggregate({ top: topCounts })
      .flatMap((w) => w.top.map((c): Q5Row => ({ auction: c.key, count: c.n, start: c.start, end: c.end })))
      .to('q5');
  },
});

/** The bids with the highest price in the window. */
const highestBids = allWithMax((b: Bid) => b.price);

/** A row of q7. */
export interface Q7Row { auction: number; price: number; bidder: number; dateTime: number; extra: string; start: number; end: number }

/**
 * q7: highest bid — per 10 s tumbling window, the bids whose price is the window's maximum. A global
 * window: every bid has the same key. Written as one aggregate that keeps the maximum and its bids,
 * not as Flink's join of the bids with the window maxima (a windowJoin keyed by price would give the
 * same rows, holding every bid of the window).
 */
export const q7: PipelineDefinition = definePipeline({
  name: 'nexmark-q7',
  setup(app) {
    bids(events(app))
      .keyBy(() => 0)
      .window(tumbling('10s'))
      .aggregate({ top: highestBids })
      .flatMap((w) => w.top.map((b): Q7Row => ({
        auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra, start: w.start, end: w.end,
      })))
      .to('q7');
  },
});

/** A row of q8. */
export interface Q8Row { id: number; name: string; reserve: number; start: number }

/**
 * q8: monitor new users — persons who opened an auction in the 10 s tumbling window they registered in;
 * one row per (person, auction) pair, as Beam's q8 (Flink's keeps one row per person and window).
 */
export const q8: PipelineDefinition = definePipeline({
  name: 'nexmark-q8',
  setup(app) {
    const all = events(app);
    persons(all).keyBy((p) => p.id)
      .windowJoin(auctions(all).keyBy((a) => a.seller), tumbling('10s'),
        (p, a, w): Q8Row => ({ id: p.id, name: p.name, reserve: a.reserve, start: w.start }))
      .to('q8', { view: false });
  },
});

/** q11: user sessions — per bidder, the number of bids in each session (sessions end after 10 s without a bid). */
export const q11: PipelineDefinition = definePipeline({
  name: 'nexmark-q11',
  setup(app) {
    bids(events(app))
      .keyBy((b) => b.bidder)
      .window(session('10s'))
      .aggregate({ bidCount: count() })
      .to('q11');
  },
});

/**
 * q12: per bidder, bids in 10 s tumbling windows of *processing* time. Rivulet's windows are event
 * time only, and a bounded run never advances processing time (`runBounded` does not tick
 * processing-time timers). What can be written is the ingestion-time form: the stream without a `time`
 * extractor takes each record's append time as its event time, which in a live run is the time the
 * event entered Rivulet (Flink's q12 also takes `PROCTIME()` at the source). In `runBounded` all events
 * get the run's start time, so they fall into one window.
 */
export const q12: PipelineDefinition = definePipeline({
  name: 'nexmark-q12',
  setup(app) {
    bids(app.stream<NexmarkEvent>(NEXMARK_TOPIC, { outOfOrderness: '0s' }))
      .keyBy((b) => b.bidder)
      .window(tumbling('10s'))
      .aggregate({ bidCount: count() })
      .to('q12');
  },
});

/** The queries by name. */
export const queries = { q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q11, q12 } as const;
export type QueryName = keyof typeof queries;
