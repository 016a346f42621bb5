import type { AppendRecord } from '../../core/record.js';
import type { Element, Operator, PushInput } from './operator.js';

/** An output record as a sink buffers it: key, value and event time always set. */
export interface SinkRecord extends AppendRecord {
  key: string | null;
  timestamp: number;
}

/** Buffers a pipeline's output records for one topic until the task appends them in one batch. */
export class SinkOperator implements Operator, PushInput {
  pending: SinkRecord[] = [];
  constructor(readonly id: string, readonly topic: string) {}
  process(batch: Element[]): void {
    for (const e of batch) this.push(e.value, e.ts, e.key);
  }
  push(value: unknown, ts: number, key: unknown): void {
    this.pending.push({ key: key === undefined || key === null ? null : String(key), value, timestamp: ts });
  }
  endBatch(): void {}
  watermark(): void {}
  snapshot(): unknown {
    return undefined;
  }
  restore(): void {}
}
