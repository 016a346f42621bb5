/**
 * `npx tsx bench/nexmark/winning-bids-costs.ts [events] [rounds]`: where the time of q9's keyed
 * `process` (the winning bid of each auction, which q4 and q6 read too) goes, by taking its streaming
 * duties away one at a time and timing what is left, over the same events, rounds alternating, the
 * median counting:
 *
 * - `as written`: `winningBids` of examples/nexmark/queries.ts (the whole of q9);
 * - `no closed marker`: a closed auction's key keeps no marker with a 60 s TTL (its cleanup timer and
 *   the visit that removes it are gone; a bid after the close waits in the early list instead);
 * - `no TTL`: the marker and the early bids are kept forever (no cleanup timers; state grows without bound);
 * - `no timers`: neither marker nor timer: no auction ever closes, nothing is emitted;
 * - the hand-written loop of bench/nexmark/baselines.ts (two passes over events it holds in full, no
 *   auction closed before the end, no state dropped).
 *
 * What the pipeline pays for beyond the loop is what a stream needs: auctions closed at their expiry
 * by event-time timers, and state that expires. See docs/benchmarks.md.
 */
import { definePipeline, listState, runBounded, valueState, type PipelineDefinition, type Stream } from '../../src/mod.js';
import type { Auction, Bid, NexmarkEvent } from '../../examples/nexmark/events.js';
import { NexmarkGenerator } from '../../examples/nexmark/generator.js';
import { beats, isValidBid, NEXMARK_TOPIC, OUT_OF_ORDERNESS, winningBids } from '../../examples/nexmark/queries.js';
import * as loops from './baselines.js';

/**
 * `winningBids` with some of its duties left out. A copy of its function with switches in it: with
 * every duty kept it must give `winningBids`' rows, which the script checks before timing anything.
 */
function variant(name: string, leave: { closedMarker?: boolean; ttl?: boolean; timers?: boolean }): PipelineDefinition {
  const ttl = leave.ttl === false ? {} : { ttl: '60s' as const };
  return definePipeline({
    name,
    setup(app) {
      (app.stream<NexmarkEvent>(NEXMARK_TOPIC, { time: 'dateTime', outOfOrderness: OUT_OF_ORDERNESS })
        .filter((e) => e.type !== 'person') as unknown as Stream<Auction | Bid>)
        .keyBy((e) => (e.type === 'auction' ? e.id : e.auction))
        .process({
          state: { auction: valueState<Auction>(), best: valueState<Bid>(), closed: valueState<true>(ttl), early: listState<Bid>(ttl) },
          onEvent(e, ctx) {
            if (e.type === 'auction') {
              let best: Bid | undefined;
              for (const b of ctx.state.early.get()) if (isValidBid(e, b) && beats(b, best)) best = b;
              ctx.state.early.clear();
              ctx.state.auction.set(e);
              if (best !== undefined) ctx.state.best.set(best);
              if (leave.timers !== false) ctx.timers.atEventTime(e.expires);
              return;
            }
            const a = ctx.state.auction.get();
            if (a === undefined) {
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
            if (leave.closedMarker !== false) ctx.state.closed.set(true);
          },
        })
        .to('out');
    },
  });
}

const asWritten = definePipeline({ name: 'as-written', setup(app) { winningBids(app.stream<NexmarkEvent>(NEXMARK_TOPIC, { time: 'dateTime', outOfOrderness: OUT_OF_ORDERNESS })).to('out'); } });
const cases: [string, PipelineDefinition | 'loop'][] = [
  ['as written', asWritten],
  ['no closed marker', variant('no-marker', { closedMarker: false })],
  ['no TTL', variant('no-ttl', { ttl: false })],
  ['no timers', variant('no-timers', { closedMarker: false, timers: false })],
  ['hand-written loop', 'loop'],
];

const [count = '1000000', rounds = '9'] = process.argv.slice(2);
const events = new NexmarkGenerator().fill(0, Number(count), []);
const rows = (p: PipelineDefinition) => JSON.stringify(runBounded(p, { [NEXMARK_TOPIC]: events }).outputs.get('out')?.map((r) => r.value));
if (rows(variant('copy', {})) !== rows(asWritten)) throw new Error('the copy of winningBids here no longer gives its rows: update it');
const time = (c: PipelineDefinition | 'loop'): number => {
  const started = performance.now();
  if (c === 'loop') loops.q9(events);
  else runBounded(c, { [NEXMARK_TOPIC]: events }, { onOutput: () => {} });
  return events.length / ((performance.now() - started) / 1000);
};
for (const [, c] of cases) time(c); // warm-up
const rates = new Map<string, number[]>(cases.map(([n]) => [n, []]));
for (let r = 0; r < Number(rounds); r++) for (const [n, c] of cases) rates.get(n)!.push(time(c));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const full = median(rates.get('as written')!);
for (const [n] of cases) {
  const m = median(rates.get(n)!);
  // ns per event above the variant: what the duties it leaves out cost.
  console.log(`${n.padEnd(18)} ${(m / 1e6).toFixed(2).padStart(6)} M events/s  ${(1e9 / m).toFixed(0).padStart(4)} ns/event  (as written: ${(1e9 / full - 1e9 / m).toFixed(0)} ns/event more)`);
}
