/**
 * `npx tsx bench/nexmark/winning-bids-costs.ts [events] [rounds]`: where the time of q9's keyed
 * `process` (the winning bid of each auction, which q4 and q6 read too) goes, by taking its streaming
 * duties away one at a time and timing what is left, over the same events, rounds alternating, the
 * median counting:
 *
 * - `as written`: `winningBid` of examples/nexmark/queries.ts after its filter and keyBy (all of q9);
 * - `no closed marker`: a closed auction's key keeps no marker with a 60 s TTL (its cleanup timer and
 *   the visit that removes it are gone; a bid after the close waits in the early list instead);
 * - `no TTL`: the marker and the early bids are kept forever (no cleanup timers; state grows without bound);
 * - `no timers`: neither marker nor timer: no auction ever closes, nothing is emitted;
 * - the hand-written loop of bench/nexmark/baselines.ts (two passes over events it holds in full, no
 *   auction closed before the end, no state dropped).
 *
 * The variants run `winningBid` itself, with a part of its context made to do nothing. What the pipeline
 * pays for beyond the loop is what a stream needs: auctions closed at their expiry by event-time
 * timers, and state that expires. See docs/benchmarks.md.
 */
import { definePipeline, listState, runBounded, valueState, type PipelineDefinition, type Stream } from '../../src/mod.js';
import type { Auction, Bid, NexmarkEvent } from '../../examples/nexmark/events.js';
import { NexmarkGenerator } from '../../examples/nexmark/generator.js';
import { NEXMARK_TOPIC, OUT_OF_ORDERNESS, winningBid } from '../../examples/nexmark/queries.js';
import * as loops from './baselines.js';

type Fn = typeof winningBid;
type Context = Parameters<Fn['onEvent']>[1];

/**
 * `winningBid` with calls to its timers, or to its closed marker, doing nothing: the function is run
 * as it is, and the operator's context (one object, made once) gets the parts that do nothing when it
 * is first seen.
 */
function without(what: 'timers' | 'closed marker'): Fn {
  let seen: Context | undefined;
  const adjusted = (c: Context): Context => {
    if (c === seen) return c;
    const writable = c as { -readonly [K in keyof Context]: Context[K] };
    if (what === 'timers') writable.timers = { atEventTime() {}, atProcessingTime() {}, cancelEventTime() {}, cancelProcessingTime() {} };
    else writable.state = { ...c.state, closed: { get: () => undefined, set() {}, clear() {} } };
    seen = c;
    return c;
  };
  return { state: winningBid.state!, onEvent: (e, c) => winningBid.onEvent(e, adjusted(c)), onTimer: (t, c) => winningBid.onTimer!(t, adjusted(c)) };
}

function pipeline(name: string, fn: Fn): PipelineDefinition {
  return definePipeline({
    name,
    setup(app) {
      (app.stream<NexmarkEvent>(NEXMARK_TOPIC, { time: 'dateTime', outOfOrderness: OUT_OF_ORDERNESS })
        .filter((e) => e.type !== 'person') as unknown as Stream<Auction | Bid>)
        .keyBy((e) => (e.type === 'auction' ? e.id : e.auction))
        .process(fn)
        .to('out');
    },
  });
}

const cases: [string, PipelineDefinition | 'loop'][] = [
  ['as written', pipeline('as-written', winningBid)],
  ['no closed marker', pipeline('no-marker', without('closed marker'))],
  // The marker and the early bids without a TTL: kept forever.
  ['no TTL', pipeline('no-ttl', { ...winningBid, state: { ...winningBid.state!, closed: valueState<true>(), early: listState<Bid>() } })],
  ['no timers', pipeline('no-timers', without('timers'))],
  ['hand-written loop', 'loop'],
];

const [count = '1000000', rounds = '9'] = process.argv.slice(2);
const events = new NexmarkGenerator().fill(0, Number(count), []);
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
