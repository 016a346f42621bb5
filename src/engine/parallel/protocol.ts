import type { MessagePort } from 'node:worker_threads';
import type { OutputRecord } from '../bounded.js';

/** A module's export, named so that a worker thread can import it: pipelines and input factories are code. */
export interface ModuleExport {
  /** The module: a file URL, or a path (relative to the working directory). JavaScript or TypeScript. */
  module: string | URL;
  /** The export's name. Default `'default'`. */
  export?: string;
}

/** A module export that makes each task's input: a function `(task, tasks, args) => Record<topic, Iterable>`. */
export interface InputsExport extends ModuleExport {
  /** Passed to the function as its third argument (copied to each thread: plain data only). */
  args?: unknown;
}

/** What a task's worker is started with. */
export interface TaskSetup {
  task: number;
  tasks: number;
  /** The port to each other task (`null` at the task's own index). */
  ports: (MessagePort | null)[];
  /** One doorbell slot per task (`Int32Array` view). */
  bells: SharedArrayBuffer;
  pipeline: { url: string; export: string };
  inputs: { kind: 'arrays'; data: Record<string, unknown[]> } | { kind: 'module'; url: string; export: string; args: unknown };
  batchSize: number;
  outputs: 'records' | 'count';
  /** Aggregate tumbling and hopping windows in two phases (see `combine.ts`). */
  combine: boolean;
}

/** What a task reports when it has run to the end. */
export interface TaskReport {
  eventsIn: number;
  lateEvents: number;
  /** Output records per topic ('records' mode), else empty. */
  records: [topic: string, records: OutputRecord[]][];
  counts: [topic: string, count: number][];
  /** Events this task sent to other tasks. */
  sent: number;
}

/** Messages from a task's worker to the thread that runs the parallel run. */
export type WorkerMessage =
  | { ready: true }
  | { done: TaskReport }
  | { failed: { name: string; message: string; code?: string; stack?: string } };
