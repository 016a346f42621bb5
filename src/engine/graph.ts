import type { Aggregate } from './aggregates.js';
import type { WindowSpec } from './windows.js';

/** How to find an event's time or key: a field name, or a function of the event. */
export type Extractor<T, R> = (keyof T & string) | ((event: T) => R);

/** The nodes of a pipeline's dataflow graph, as the builder records them. */
export type GraphNode =
  | { kind: 'source'; id: string; topic: string; time?: Extractor<never, unknown>; outOfOrderness: number; children: GraphNode[] }
  | { kind: 'filter'; id: string; fn: (v: unknown) => boolean; children: GraphNode[] }
  | { kind: 'map'; id: string; fn: (v: unknown) => unknown; children: GraphNode[] }
  | { kind: 'flatMap'; id: string; fn: (v: unknown) => Iterable<unknown>; children: GraphNode[] }
  | { kind: 'keyBy'; id: string; fn: (v: unknown) => unknown; children: GraphNode[] }
  | { kind: 'window'; id: string; spec: WindowSpec; aggregates: Record<string, Aggregate<unknown, unknown, unknown>>; children: GraphNode[] }
  | { kind: 'sink'; id: string; topic: string; view: boolean; children: GraphNode[] };

/** Applies an {@link Extractor}. */
export function extract<T, R>(ex: Extractor<T, R>, event: T): unknown {
  if (typeof ex === 'function') return ex(event);
  return event !== null && typeof event === 'object' ? (event as Record<string, unknown>)[ex] : undefined;
}
