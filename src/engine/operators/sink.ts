import type { AppendRecord } from '../../core/record.js';
import type { Element, Operator } from './operator.js';

/** An output record as a sink buffers it: key, value and event time always set. */
export interface SinkRecord extends AppendRecord {
  key: string | null;
  timestamp: number;
}

/** Buffers a pipeline's output records for one topic until the task appends them in one batch. */
export class SinkOperator implements Operator {
  pending: SinkRecord[] = [];
  constructor(readonly id: string, readonly topic: string) {}
  process(batch: Element[]): void {
    for (const e of batch) {
      this.pending.push({ key: e.key === undefined || e.key === null ? null : String(e.key), value: e.value, timestamp: e.ts });
    }
  }
  watermark(): void {}
  snapshot(): unknown {
    return undefined;
  }
  restore(): void {}
}
