import type { Aggregate } from './aggregates.js';
import type { GraphNode } from './graph.js';
import { CountWindowOperator } from './operators/count-window.js';
import type { Operator, Outputs } from './operators/operator.js';
import { SessionWindowOperator } from './operators/session-window.js';
import { SinkOperator } from './operators/sink.js';
import { SlidingWindowOperator } from './operators/sliding-window.js';
import { FilterOperator, FlatMapOperator, KeyByOperator, MapOperator, UnionOperator } from './operators/stateless.js';
import { TimeWindowOperator } from './operators/time-window.js';
import type { WindowOperatorBase } from './operators/window-base.js';
import type { WindowOptionsResolved, WindowSpec } from './windows.js';

/** The window operator for a window kind. */
export function createWindowOperator(id: string, out: Outputs, late: Outputs, spec: WindowSpec, options: WindowOptionsResolved,
  aggregates: Record<string, Aggregate<unknown, unknown, unknown>>): WindowOperatorBase {
  switch (spec.kind) {
    case 'tumbling':
    case 'hopping':
      return new TimeWindowOperator(id, out, late, spec, options, aggregates);
    case 'sliding':
      return new SlidingWindowOperator(id, out, late, spec, options, aggregates);
    case 'session':
      return new SessionWindowOperator(id, out, late, spec, options, aggregates);
    case 'count':
      return new CountWindowOperator(id, out, late, spec, options, aggregates);
  }
}

function inputOf(node: GraphNode, parentId: string): number {
  if (node.kind !== 'union') return 0;
  const i = node.inputs.indexOf(parentId);
  if (i < 0) throw new Error(`graph node ${node.id} does not list ${parentId} as an input`);
  return i;
}

/**
 * Turns the graph below a node into operators and returns where the node's output goes. Every
 * operator is registered in `all` by id; a node reached from several parents is built once.
 */
export function compileChildren(node: GraphNode, all: Map<string, Operator>): Outputs {
  return node.children.map((child) => ({ op: compileNode(child, all), input: inputOf(child, node.id) }));
}

function compileNode(node: GraphNode, all: Map<string, Operator>): Operator {
  const existing = all.get(node.id);
  if (existing) return existing;
  const out = compileChildren(node, all);
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
      op = new UnionOperator(node.id, out);
      break;
    case 'window': {
      let late: Outputs = [];
      if (node.options.lateOutput !== undefined) {
        const sink = new SinkOperator(`${node.id}-late`, node.options.lateOutput);
        all.set(sink.id, sink);
        late = [{ op: sink, input: 0 }];
      }
      op = createWindowOperator(node.id, out, late, node.spec, node.options, node.aggregates);
      break;
    }
    case 'sink':
      op = new SinkOperator(node.id, node.topic);
      break;
  }
  all.set(op.id, op);
  return op;
}
