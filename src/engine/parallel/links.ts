import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fromColumnArrays, type BatchOfColumnArrays, type EncodedBatch } from './codec.js';

/** Events for exchange `x`: values in columns; event times, watermarks and keys in one typed array. */
export interface EventsPart {
  x: number;
  v: EncodedBatch;
  /**
   * For `n` events: their event times, then the watermarks they were read under, then — when every key
   * is a number — their keys (one typed array, not three: each costs an allocation at both ends).
   */
  tw: Float64Array;
  /** The keys, when not all are numbers. */
  k?: unknown[];
}

/** Part of a message between tasks: events for exchange `x`, or the sender's watermark on it. */
export type LinkPart = EventsPart | { x: number; wm: number };

/** Events as exchange topics held them before {@link EventsPart}: a typed array per column. */
interface EventsPartOfColumnArrays { x: number; v: BatchOfColumnArrays; t: Float64Array; w: Float64Array; k: Float64Array | unknown[] }

/** A part of a message read from an exchange topic, in the current form (topics may hold the earlier one). */
export function currentPart(part: LinkPart | EventsPartOfColumnArrays): LinkPart {
  if (!('t' in part)) return part;
  const { t, w, k } = part;
  const n = t.length;
  const tw = new Float64Array(k instanceof Float64Array ? 3 * n : 2 * n);
  tw.set(t);
  tw.set(w, n);
  if (k instanceof Float64Array) tw.set(k, 2 * n);
  return { x: part.x, v: fromColumnArrays(part.v), tw, ...(k instanceof Float64Array ? {} : { k }) };
}

/** A message from one task to another: parts in order, and how many units of the receiver's messages it took. */
export interface LinkMessage {
  p: LinkPart[];
  /** Acknowledged units (see {@link TaskLinks.congested}). */
  a: number;
}

/** Something that has parts to send to peers: an exchange. */
export interface PartSource {
  /** Appends what is waiting for `peer` to `parts` (buffers to move into `transfer`); returns the units appended. */
  take(peer: number, parts: LinkPart[], transfer: ArrayBuffer[]): number;
}

/**
 * Units (an event, or a message) a task may have sent to one peer that the peer has not taken yet.
 * Past this the task reads no more input until the peer catches up, so a slow task bounds the memory
 * of the others. Large enough to ride out the other task's garbage-collection pauses.
 */
const MAX_UNACKED = 200_000;

/**
 * A task's links to the other tasks of a parallel run: a `MessagePort` per peer, read synchronously
 * (`receiveMessageOnPort`) so the task's loop never waits for its event loop, and a shared doorbell
 * (one `Int32Array` slot per task) that a sender rings after each message, so an idle task sleeps in
 * `Atomics.wait` instead of spinning. What a task's exchanges send is gathered and sent as one message
 * per peer at each {@link flush}: a message costs microseconds, an event a fraction of one.
 */
export class TaskLinks {
  private readonly unacked: number[];
  private readonly toAck: number[];

  constructor(
    readonly task: number,
    readonly tasks: number,
    /** The port to each peer; `undefined` at this task's own index. */
    private readonly ports: readonly (MessagePort | undefined)[],
    private readonly bells: Int32Array,
  ) {
    this.unacked = new Array<number>(tasks).fill(0);
    this.toAck = new Array<number>(tasks).fill(0);
  }

  /** Sends each peer what the sources have for it, with the acknowledgements due, as one message. */
  flush(sources: readonly PartSource[]): void {
    for (let p = 0; p < this.tasks; p++) {
      if (p === this.task) continue;
      const parts: LinkPart[] = [];
      const transfer: ArrayBuffer[] = [];
      let units = 0;
      for (const s of sources) units += s.take(p, parts, transfer);
      if (parts.length === 0 && this.toAck[p] === 0) continue;
      if (parts.length > 0) units++;
      this.ports[p]!.postMessage({ p: parts, a: this.toAck[p]! } satisfies LinkMessage, transfer);
      this.unacked[p]! += units;
      this.toAck[p] = 0;
      Atomics.add(this.bells, p, 1);
      Atomics.notify(this.bells, p);
    }
  }

  /** Some peer holds too many of this task's units: read no more input until it catches up. */
  congested(): boolean {
    for (let p = 0; p < this.tasks; p++) if (this.unacked[p]! > MAX_UNACKED) return true;
    return false;
  }

  /**
   * Takes every message waiting on every port and hands its parts to `deliver`, in order. The
   * acknowledgements go out with the next {@link flush}. True if anything arrived.
   */
  poll(deliver: (peer: number, part: LinkPart) => void): boolean {
    let any = false;
    for (let p = 0; p < this.tasks; p++) {
      const port = this.ports[p];
      if (port === undefined) continue;
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        any = true;
        const message = m.message as LinkMessage;
        this.unacked[p]! -= message.a;
        if (message.p.length === 0) continue;
        let units = 1;
        for (const part of message.p) {
          if ('v' in part) units += part.v.count;
          deliver(p, part);
        }
        this.toAck[p]! += units;
      }
    }
    return any;
  }

  /** The doorbell's count, to pass to {@link wait} after a poll that found nothing. */
  bell(): number {
    return Atomics.load(this.bells, this.task);
  }

  /** Sleeps until a peer sends something (or `ms` pass); returns at once if something came since `seen`. */
  wait(seen: number, ms = 1000): void {
    Atomics.wait(this.bells, this.task, seen, ms);
  }
}
