import type { Aggregate } from './aggregates.js';
import type { GraphNode } from './graph.js';
import { CountWindowOperator } from './operators/count-window.js';
import { HoppingWindowOperator } from './operators/hopping-window.js';
import { IntervalJoinOperator } from './operators/interval-join.js';
import { KeyedAggregateOperator } from './operators/keyed-aggregate.js';
import { ProcessOperator } from './operators/process.js';
import { TableJoinOperator } from './operators/table-join.js';
import { WindowJoinOperator } from './operators/window-join.js';
import type { Operator, Outputs } from './operators/operator.js';
import { SessionWindowOperator } from './operators/session-window.js';
import { SinkOperator } from './operators/sink.js';
import { SlidingWindowOperator } from './operators/sliding-window.js';
import { FilterOperator, FlatMapOperator, KeyByOperator, MapOperator, UnionOperator } from './operators/stateless.js';
import { TimeWindowOperator } from './operators/time-window.js';
import type { WindowOperatorBase } from './operators/window-base.js';
import type { WindowOptionsResolved, WindowSpec } from './windows.js';
import { MemoryStateBackend } from '../state/memory-backend.js';
import type { StateBackend } from '../state/state-backend.js';

/** The window operator for a window kind. */
export function createWindowOperator(id: string, out: Outputs, late: Outputs, spec: WindowSpec, options: WindowOptionsResolved,
  aggregates: Record<string, Aggregate<unknown, unknown, unknown>>, state?: StateBackend): WindowOperatorBase {
  switch (spec.kind) {
    case 'hopping':
      // Final results only: in `update` mode every event changes each of its windows' results anyway.
      if (options.emit === 'final') return new HoppingWindowOperator(id, out, late, spec, options, aggregates, state);
      return new TimeWindowOperator(id, out, late, spec, options, aggregates, 'events', state);
    case 'tumbling':
      return new TimeWindowOperator(id, out, late, spec, options, aggregates, 'events', state);
    case 'sliding':
      return new SlidingWindowOperator(id, out, late, spec, options, aggregates, state);
    case 'session':
      return new SessionWindowOperator(id, out, late, spec, options, aggregates, state);
    case 'count':
      return new CountWindowOperator(id, out, late, spec, options, aggregates, state);
  }
}

/** The input of `child` that the `nth` edge from `parentId` feeds (a self-join has two edges from one parent). */
function inputOf(child: GraphNode, parentId: string, nth: number): number {
  if (!('inputs' in child)) return 0;
  let seen = 0;
  for (let i = 0; i < child.inputs.length; i++) if (child.inputs[i] === parentId && seen++ === nth) return i;
  throw new Error(`graph node ${child.id} does not list ${parentId} as an input`);
}

/** A `keyBy` node of the graph. */
export type KeyByNode = Extract<GraphNode, { kind: 'keyBy' }>;

/**
 * Builds the operator of a `keyBy` node when the stream is split over several tasks: one that also
 * sends each event to the task that owns its key (see `parallel/exchange.ts`). `children` compiles
 * what the node feeds; a compiler may build the node's child itself instead (a window aggregated in
 * two phases) and register it in `all`. The operator's id is the node's.
 */
export type KeyByCompiler = (node: KeyByNode, all: Map<string, Operator>, children: () => Outputs) => Operator;

/**
 * Turns the graph below a node into operators and returns where the node's output goes. Every
 * operator is registered in `all` by id; a node reached from several parents is built once.
 * Operators that keep keyed state in tables take them from `state` (default: one in memory).
 */
export function compileChildren(node: GraphNode, all: Map<string, Operator>, keyBy?: KeyByCompiler, state: StateBackend = new MemoryStateBackend()): Outputs {
  return node.children.map((child, j) => {
    const nth = node.children.slice(0, j).filter((c) => c === child).length;
    return { op: compileNode(child, all, keyBy, state), input: inputOf(child, node.id, nth) };
  });
}

/** A sink for a late-output topic, registered with the operators, or no output. */
export function lateSink(ownerId: string, topic: string | undefined, all: Map<string, Operator>): Outputs {
  if (topic === undefined) return [];
  const sink = new SinkOperator(`${ownerId}/late`, topic);
  all.set(sink.id, sink);
  return [{ op: sink, input: 0 }];
}

function compileNode(node: GraphNode, all: Map<string, Operator>, keyBy: KeyByCompiler | undefined, state: StateBackend): Operator {
  const existing = all.get(node.id);
  if (existing) return existing;
  if (node.kind === 'keyBy' && keyBy) {
    const op = keyBy(node, all, () => compileChildren(node, all, keyBy, state));
    all.set(op.id, op);
    return op;
  }
  const out = compileChildren(node, all, keyBy, state);
  let op: Operator;
  switch (node.kind) {
    case 'source':
      throw new Error('a source cannot be downstream of another node');
    case 'filter':
      op = new FilterOperator(node.id, out, node.fn);
      break;
    case 'map':
      op = new MapOperator(node.id, out, node.fn);
      break;
    case 'flatMap':
      op = new FlatMapOperator(node.id, out, node.fn);
      break;
    case 'keyBy':
      op = new KeyByOperator(node.id, out, node.fn);
      break;
    case 'union':
      op = new UnionOperator(node.id, out, node.inputs.length);
      break;
    case 'window':
      op = createWindowOperator(node.id, out, lateSink(node.id, node.options.lateOutput, all), node.spec, node.options, node.aggregates, state);
      break;
    case 'aggregate':
      op = new KeyedAggregateOperator(node.id, out, node.aggregates, 'events', state);
      break;
    case 'process':
      op = new ProcessOperator(node.id, out, node.fn, state);
      break;
    case 'intervalJoin':
      op = new IntervalJoinOperator(node.id, out, lateSink(node.id, node.lateOutput, all), node.before, node.after, node.join, state);
      break;
    case 'windowJoin':
      op = new WindowJoinOperator(node.id, out, lateSink(node.id, node.lateOutput, all), node.spec, node.join, state);
      break;
    case 'tableJoin':
      op = new TableJoinOperator(node.id, out, lateSink(node.id, node.lateOutput, all), node.mode, node.join, state);
      break;
    case 'sink':
      op = new SinkOperator(node.id, node.topic);
      break;
  }
  all.set(op.id, op);
  return op;
}
