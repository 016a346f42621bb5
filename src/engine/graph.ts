import type { Aggregate } from './aggregates.js';
import type { StateDescriptor } from './keyed-state.js';
import type { ProcessFunction } from './operators/process.js';
import type { TableJoinMode } from './operators/table-join.js';
import type { HoppingWindow, TumblingWindow, WindowOptionsResolved, WindowSpec } from './windows.js';

/** How to find an event's time or key: a field name, or a function of the event. */
export type Extractor<T, R> = (keyof T & string) | ((event: T) => R);

interface NodeBase {
  id: string;
  children: GraphNode[];
}

/**
 * The nodes of a pipeline's dataflow graph, as the builder records them. Edges point downstream
 * (`children`); a node with several inputs (`union`, joins) lists its parents in `inputs`, in input order.
 */
export type GraphNode = NodeBase & (
  | { kind: 'source'; topic: string; time?: Extractor<never, unknown>; outOfOrderness: number; idleTimeout: number | undefined }
  | { kind: 'filter'; fn: (v: unknown) => boolean }
  | { kind: 'map'; fn: (v: unknown) => unknown }
  | { kind: 'flatMap'; fn: (v: unknown) => Iterable<unknown> }
  | { kind: 'keyBy'; fn: (v: unknown) => unknown }
  | { kind: 'union'; inputs: string[] }
  | { kind: 'window'; spec: WindowSpec; options: WindowOptionsResolved; aggregates: Record<string, Aggregate<unknown, unknown, unknown>> }
  | { kind: 'aggregate'; aggregates: Record<string, Aggregate<unknown, unknown, unknown>> }
  | { kind: 'process'; fn: ProcessFunction<unknown, unknown, unknown, Record<string, StateDescriptor>> }
  | { kind: 'intervalJoin'; inputs: string[]; before: number; after: number; join: (l: unknown, r: unknown) => unknown; lateOutput: string | undefined }
  | { kind: 'windowJoin'; inputs: string[]; spec: TumblingWindow | HoppingWindow; join: (l: unknown, r: unknown, w: { start: number; end: number }) => unknown; lateOutput: string | undefined }
  | { kind: 'tableJoin'; inputs: string[]; mode: TableJoinMode; join: (e: unknown, row: unknown) => unknown; lateOutput: string | undefined }
  | { kind: 'sink'; topic: string; view: boolean }
);

/** Applies an {@link Extractor}. */
export function extract<T, R>(ex: Extractor<T, R>, event: T): unknown {
  if (typeof ex === 'function') return ex(event);
  return event !== null && typeof event === 'object' ? (event as Record<string, unknown>)[ex] : undefined;
}
