/**
 * The Nexmark benchmark's baselines: each query's answer computed by a hand-written plain TypeScript
 * loop over the same in-memory events, in one thread, as fast as we could simply write it. They return
 * the same rows as the Rivulet pipelines in examples/nexmark/queries.ts (the tests check it), except
 * for q4, whose pipeline emits a changelog and whose baseline gives the final average per category.
 * q6's loop orders the closed auctions by sorting them; the pipeline holds each millisecond's in a list.
 */
import type { Auction, Bid, NexmarkEvent, Person } from '../../examples/nexmark/events.js';
import {
  beats, isValidBid, Q6_LAST, type Q1Row, type Q3Row, type Q5Row, type Q6Row, type Q7Row, type Q8Row, type WinningBid,
} from '../../examples/nexmark/queries.js';

export function q0(events: readonly NexmarkEvent[]): Bid[] {
  const out: Bid[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'bid') out.push(e);
  }
  return out;
}

export function q1(events: readonly NexmarkEvent[]): Q1Row[] {
  const out: Q1Row[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'bid') out.push({ auction: e.auction, bidder: e.bidder, price: e.price * 0.908, dateTime: e.dateTime, extra: e.extra });
  }
  return out;
}

export function q2(events: readonly NexmarkEvent[]): { auction: number; price: number }[] {
  const out: { auction: number; price: number }[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'bid' && e.auction % 123 === 0) out.push({ auction: e.auction, price: e.price });
  }
  return out;
}

export function q3(events: readonly NexmarkEvent[]): Q3Row[] {
  const out: Q3Row[] = [];
  const sellers = new Map<number, Person>();
  const waiting = new Map<number, Auction[]>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'person') {
      if (e.state !== 'OR' && e.state !== 'ID' && e.state !== 'CA') continue;
      sellers.set(e.id, e);
      const w = waiting.get(e.id);
      if (w) {
        for (const a of w) out.push({ name: e.name, city: e.city, state: e.state, id: a.id });
        waiting.delete(e.id);
      }
    } else if (e.type === 'auction' && e.category === 10) {
      const p = sellers.get(e.seller);
      if (p) out.push({ name: p.name, city: p.city, state: p.state, id: e.id });
      else {
        const w = waiting.get(e.seller);
        if (w) w.push(e);
        else waiting.set(e.seller, [e]);
      }
    }
  }
  return out;
}

/** Final average winning price per category. */
export function q4(events: readonly NexmarkEvent[]): Map<number, number> {
  const open = new Map<number, { a: Auction; best: number }>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'auction') open.set(e.id, { a: e, best: -1 });
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'bid') continue;
    const s = open.get(e.auction);
    if (s && e.price > s.best && isValidBid(s.a, e)) s.best = e.price;
  }
  const sums = new Map<number, [number, number]>();
  for (const { a, best } of open.values()) {
    if (best < 0) continue;
    const s = sums.get(a.category);
    if (s) {
      s[0] += best;
      s[1]++;
    } else sums.set(a.category, [best, 1]);
  }
  return new Map([...sums].map(([c, [sum, n]]) => [c, sum / n]));
}

/** The auctions that closed with a valid bid, each with its winning bid, in auction order (q6, q9). */
function winners(events: readonly NexmarkEvent[]): WinningBid[] {
  const open = new Map<number, { auction: Auction; bid: Bid | undefined }>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'auction') open.set(e.id, { auction: e, bid: undefined });
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'bid') continue;
    const s = open.get(e.auction);
    if (s && isValidBid(s.auction, e) && beats(e, s.bid)) s.bid = e;
  }
  const out: WinningBid[] = [];
  for (const s of open.values()) if (s.bid !== undefined) out.push({ auction: s.auction, bid: s.bid });
  return out;
}

/** Per seller, the average winning price of its last 10 auctions, on each close (by `expires`, then id). */
export function q6(events: readonly NexmarkEvent[]): Q6Row[] {
  const ws = winners(events);
  ws.sort((x, y) => x.auction.expires - y.auction.expires || x.auction.id - y.auction.id);
  const last = new Map<number, { prices: number[]; next: number }>();
  const out: Q6Row[] = [];
  for (const { auction, bid } of ws) {
    let r = last.get(auction.seller);
    if (!r) last.set(auction.seller, (r = { prices: [], next: 0 }));
    if (r.prices.length < Q6_LAST) r.prices.push(bid.price);
    else {
      r.prices[r.next] = bid.price;
      r.next = (r.next + 1) % Q6_LAST;
    }
    // Summed afresh (at most 10 integers: exact), not kept as a running sum, so no rounding drifts.
    let sum = 0;
    for (const p of r.prices) sum += p;
    out.push({ seller: auction.seller, auction: auction.id, avg: sum / r.prices.length });
  }
  return out;
}

export function q9(events: readonly NexmarkEvent[]): WinningBid[] {
  return winners(events);
}

export function q5(events: readonly NexmarkEvent[]): Q5Row[] {
  const size = 10_000;
  const slide = 2_000;
  const counts = new Map<number, Map<number, number>>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'bid') continue;
    const last = e.dateTime - (e.dateTime % slide);
    for (let s = last - size + slide; s <= last; s += slide) {
      let byAuction = counts.get(s);
      if (!byAuction) counts.set(s, (byAuction = new Map()));
      byAuction.set(e.auction, (byAuction.get(e.auction) ?? 0) + 1);
    }
  }
  const out: Q5Row[] = [];
  for (const [start, byAuction] of counts) {
    let max = 0;
    for (const n of byAuction.values()) if (n > max) max = n;
    for (const [auction, n] of byAuction) if (n === max) out.push({ auction, count: n, start, end: start + size });
  }
  return out;
}

export function q7(events: readonly NexmarkEvent[]): Q7Row[] {
  const size = 10_000;
  const out: Q7Row[] = [];
  let start = NaN;
  let max = -1;
  let top: Bid[] = [];
  const flush = () => {
    for (const b of top) out.push({ auction: b.auction, price: b.price, bidder: b.bidder, dateTime: b.dateTime, extra: b.extra, start, end: start + size });
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'bid') continue;
    const s = e.dateTime - (e.dateTime % size);
    if (s !== start) {
      flush();
      start = s;
      max = -1;
      top = [];
    }
    if (e.price > max) {
      max = e.price;
      top = [e];
    } else if (e.price === max) top.push(e);
  }
  flush();
  return out;
}

export function q8(events: readonly NexmarkEvent[]): Q8Row[] {
  const size = 10_000;
  const out: Q8Row[] = [];
  let start = NaN;
  let people = new Map<number, Person[]>();
  let sellers = new Map<number, Auction[]>();
  const flush = () => {
    for (const [id, ps] of people) {
      const as = sellers.get(id);
      if (!as) continue;
      for (const p of ps) for (const a of as) out.push({ id: p.id, name: p.name, reserve: a.reserve, start });
    }
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'bid') continue;
    const s = e.dateTime - (e.dateTime % size);
    if (s !== start) {
      flush();
      start = s;
      people = new Map();
      sellers = new Map();
    }
    if (e.type === 'person') {
      const l = people.get(e.id);
      if (l) l.push(e);
      else people.set(e.id, [e]);
    } else {
      const l = sellers.get(e.seller);
      if (l) l.push(e);
      else sellers.set(e.seller, [e]);
    }
  }
  flush();
  return out;
}

export interface Q11Row { key: number; start: number; end: number; bidCount: number }

export function q11(events: readonly NexmarkEvent[]): Q11Row[] {
  const gap = 10_000;
  const out: Q11Row[] = [];
  const open = new Map<number, { start: number; last: number; n: number }>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'bid') continue;
    const s = open.get(e.bidder);
    if (s === undefined) open.set(e.bidder, { start: e.dateTime, last: e.dateTime, n: 1 });
    else if (e.dateTime - s.last > gap) {
      out.push({ key: e.bidder, start: s.start, end: s.last + gap, bidCount: s.n });
      s.start = e.dateTime;
      s.last = e.dateTime;
      s.n = 1;
    } else {
      s.last = e.dateTime;
      s.n++;
    }
  }
  for (const [key, s] of open) out.push({ key, start: s.start, end: s.last + gap, bidCount: s.n });
  return out;
}
