import { InvalidEventError } from '../core/errors.js';
import type { AppendRecord } from '../core/record.js';
import { describeValue, toEpochMillis } from '../core/time.js';
import { extract } from '../engine/graph.js';
import type { IngestRules } from '../engine/engine.js';

/** One event of a request body that was refused, and why. */
export interface RejectedEvent {
  /** Position of the event in the batch (0-based). */
  index: number;
  /** Line of the body (1-based), for NDJSON. */
  line?: number;
  code: string;
  message: string;
  /** The part of the event that was wrong, when one can be named. */
  field?: string;
  /** The event as received (the raw line when it was not JSON). */
  event: unknown;
}

/** A parsed and checked ingest batch: records to append (with their batch index) and refused events. */
export interface IngestBatch {
  accepted: { index: number; record: AppendRecord }[];
  rejected: RejectedEvent[];
}

/**
 * Splits a request body into events. A JSON body is an object (one event) or an array of events; an
 * NDJSON body has one event per line, and a line that is not JSON refuses that event only.
 * Throws {@link InvalidEventError} (`malformed_json`) when a JSON body cannot be parsed at all.
 */
export function parseBody(body: string, contentType: string | undefined): { events: { index: number; line?: number; value: unknown; error?: string }[] } {
  const ndjson = /ndjson|jsonl|json-seq/i.test(contentType ?? '');
  if (!ndjson) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      throw new InvalidEventError('malformed_json', `request body is not valid JSON: ${(e as Error).message}; nothing was appended`);
    }
    const values = Array.isArray(parsed) ? parsed : [parsed];
    return { events: values.map((value, index) => ({ index, value })) };
  }
  const events: { index: number; line?: number; value: unknown; error?: string }[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (text === '') continue;
    const index = events.length;
    try {
      events.push({ index, line: i + 1, value: JSON.parse(text) });
    } catch (e) {
      events.push({ index, line: i + 1, value: text, error: (e as Error).message });
    }
  }
  return { events };
}

/**
 * Checks each event against the topic's ingest rules and turns the valid ones into records: an event
 * must be a JSON object, and where the topic declares an event time, that time must be present and be
 * epoch milliseconds or an ISO-8601 string.
 */
export function checkEvents(events: ReturnType<typeof parseBody>['events'], rules: IngestRules | undefined): IngestBatch {
  const out: IngestBatch = { accepted: [], rejected: [] };
  for (const ev of events) {
    const where = { index: ev.index, ...(ev.line !== undefined ? { line: ev.line } : {}), event: ev.value };
    if (ev.error !== undefined) {
      out.rejected.push({ ...where, code: 'malformed_json', message: `line ${ev.line} is not valid JSON: ${ev.error}` });
      continue;
    }
    const v = ev.value;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      out.rejected.push({ ...where, code: 'not_an_object', message: `event ${ev.index} must be a JSON object, got ${describeValue(v)}` });
      continue;
    }
    let timestamp: number | undefined;
    let bad: RejectedEvent | undefined;
    for (const ex of rules?.time ?? []) {
      const raw = extract(ex, v as never);
      const t = toEpochMillis(raw);
      if (t === undefined) {
        const field = typeof ex === 'string' ? ex : undefined;
        bad = {
          ...where,
          code: 'invalid_event_time',
          message: `event ${ev.index}: event time ${field ? `field '${field}' ` : ''}is ${describeValue(raw)}; expected epoch milliseconds or an ISO-8601 string`,
          ...(field ? { field } : {}),
        };
        break;
      }
      timestamp ??= t;
    }
    if (bad) {
      out.rejected.push(bad);
      continue;
    }
    let key: string | null = null;
    if (rules?.key !== undefined) {
      const k = extract(rules.key, v as never);
      if (typeof k === 'string' || typeof k === 'number') key = String(k);
      else if (k !== undefined && k !== null) {
        const field = typeof rules.key === 'string' ? rules.key : undefined;
        out.rejected.push({ ...where, code: 'invalid_key', message: `event ${ev.index}: key ${field ? `field '${field}' ` : ''}is ${describeValue(k)}; expected a string or a number`, ...(field ? { field } : {}) });
        continue;
      }
    }
    out.accepted.push({ index: ev.index, record: { key, value: v, ...(timestamp !== undefined ? { timestamp } : {}) } });
  }
  return out;
}
