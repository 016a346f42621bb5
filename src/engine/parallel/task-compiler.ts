import { compileChildren, lateSink, type KeyByCompiler } from '../compile.js';
import { KeyedAggregateOperator } from '../operators/keyed-aggregate.js';
import { HoppingWindowOperator } from '../operators/hopping-window.js';
import { TimeWindowOperator } from '../operators/time-window.js';
import { AggregateCombineOperator, combinableAggregate, combinableWindow, WindowCombineOperator } from './combine.js';
import { ExchangeOperator } from './exchange.js';

/**
 * How one task of a parallel run (or of a pipeline split over workers) compiles a `keyBy`: to an exchange, and where the aggregation after
 * it can be split (`combine`), to a combiner that sends partials through the exchange to the owner's
 * merging operator. `exchanges` receives each exchange in the order it is built — the ones below a
 * node first — which is the same in every task, so that an exchange's number names it across tasks.
 */
export function taskKeyByCompiler(links: { task: number; tasks: number }, combine: boolean, exchanges: ExchangeOperator[]): KeyByCompiler {
  const keyBy: KeyByCompiler = (node, all, children) => {
    const aggregate = combine ? combinableAggregate(node) : undefined;
    if (aggregate !== undefined) {
      const merge = new KeyedAggregateOperator(aggregate.id, compileChildren(aggregate, all, keyBy), aggregate.aggregates, 'partials');
      all.set(merge.id, merge);
      const x = new ExchangeOperator(`${node.id}-partials`, exchanges.length, (_value, key) => key, [{ op: merge, input: 0 }], links);
      exchanges.push(x);
      return new AggregateCombineOperator(node.id, node.fn, aggregate.aggregates, [{ op: x, input: 0 }]);
    }
    const window = combine ? combinableWindow(node) : undefined;
    if (window !== undefined) {
      const merge = window.spec.kind === 'hopping'
        ? new HoppingWindowOperator(window.id, compileChildren(window, all, keyBy), [], window.spec, window.options, window.aggregates, undefined, 'partials')
        : new TimeWindowOperator(window.id, compileChildren(window, all, keyBy), [], window.spec, window.options, window.aggregates, 'partials');
      all.set(merge.id, merge);
      const x = new ExchangeOperator(`${node.id}-partials`, exchanges.length, (_value, key) => key, [{ op: merge, input: 0 }], links);
      exchanges.push(x);
      return new WindowCombineOperator(node.id, node.fn, window.spec, window.options, window.aggregates, [{ op: x, input: 0 }],
        lateSink(window.id, window.options.lateOutput, all));
    }
    const out = children();
    const x = new ExchangeOperator(node.id, exchanges.length, (value) => node.fn(value), out, links);
    exchanges.push(x);
    return x;
  };
  return keyBy;
}
