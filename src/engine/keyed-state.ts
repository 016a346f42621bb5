import { durationMs, type Duration } from '../core/duration.js';
import type { JsonValue } from '../core/record.js';
import { keyIdOfString, type KeyId } from '../state/key-id.js';
import type { StateCodec, StateTable } from '../state/state-backend.js';
import type { TimerSchedule } from './operators/timer-queue.js';

/** Options shared by every kind of keyed state. */
export interface StateOptions {
  /**
   * Time to live, in event time: an entry written at event time t (the event's or the timer's) is gone
   * once the watermark passes t + ttl. Event time, not wall-clock, so a replay keeps the same state.
   */
  ttl?: Duration;
}

/** Declares a single value per key. */
export interface ValueStateDescriptor<T> {
  kind: 'value';
  ttl: number | undefined;
  /** @internal phantom */
  readonly __type?: T;
}

/** Declares a map per key (keys are strings or numbers; entries expire one by one). */
export interface MapStateDescriptor<MK extends string | number, V> {
  kind: 'map';
  ttl: number | undefined;
  /** @internal phantom */
  readonly __type?: [MK, V];
}

/** Declares a list per key (expires as a whole, counted from its last change). */
export interface ListStateDescriptor<T> {
  kind: 'list';
  ttl: number | undefined;
  /** @internal phantom */
  readonly __type?: T;
}

/** Any state declaration. */
export type StateDescriptor = ValueStateDescriptor<unknown> | MapStateDescriptor<string | number, unknown> | ListStateDescriptor<unknown>;

const ttlOf = (options: StateOptions | undefined, what: string) => (options?.ttl === undefined ? undefined : durationMs(options.ttl, `${what} ttl`));

/**
 * One value per key, e.g. the last reading of a sensor or a running balance.
 *
 * @example
 * ```ts
 * readings.keyBy((r) => r.sensor).process({
 *   state: { last: valueState<number>({ ttl: '1h' }) },
 *   onEvent(r, ctx) {
 *     const prev = ctx.state.last.get();
 *     if (prev !== undefined && Math.abs(r.temp - prev) > 10) ctx.emit({ sensor: r.sensor, jump: r.temp - prev });
 *     ctx.state.last.set(r.temp);
 *   },
 * });
 * ```
 */
export function valueState<T>(options?: StateOptions): ValueStateDescriptor<T> {
  return { kind: 'value', ttl: ttlOf(options, 'valueState') };
}

/** A map per key, e.g. the merchants a card paid at and how often. See {@link valueState} for usage. */
export function mapState<MK extends string | number, V>(options?: StateOptions): MapStateDescriptor<MK, V> {
  return { kind: 'map', ttl: ttlOf(options, 'mapState') };
}

/** A list per key, e.g. the last events of a pattern in progress. See {@link valueState} for usage. */
export function listState<T>(options?: StateOptions): ListStateDescriptor<T> {
  return { kind: 'list', ttl: ttlOf(options, 'listState') };
}

/** The current key's value. */
export interface ValueState<T> {
  /** The value, or `undefined` when none was set (or it expired, or was cleared). */
  get(): T | undefined;
  /** Sets the value; setting `undefined` is `clear()` (a key whose states are all absent takes no memory). */
  set(value: T): void;
  clear(): void;
}

/** The current key's map. */
export interface MapState<MK extends string | number, V> {
  get(key: MK): V | undefined;
  set(key: MK, value: V): void;
  has(key: MK): boolean;
  delete(key: MK): void;
  /** Live entries, in insertion order. */
  entries(): [MK, V][];
  readonly size: number;
  clear(): void;
}

/** The current key's list. */
export interface ListState<T> {
  get(): readonly T[];
  add(value: T): void;
  set(values: T[]): void;
  clear(): void;
}

/** The accessors of a record of state declarations, scoped to the key being processed. */
export type StateAccessors<S extends Record<string, StateDescriptor>> = {
  [N in keyof S]: S[N] extends ValueStateDescriptor<infer T> ? ValueState<T>
    : S[N] extends MapStateDescriptor<infer MK, infer V> ? MapState<MK, V>
      : S[N] extends ListStateDescriptor<infer T> ? ListState<T>
        : never;
};

/**
 * A map state's entries (by `s`/`n` + key, so that `'1'` and `1` stay apart), of a class of its own: a
 * value state may hold a `Map` of the user's, which must not read as a map state's entries.
 */
class MapEntries extends Map<string, { k: string | number; v: unknown; t: number }> {}

/**
 * One key's states, as the operator's state table holds them: one field per declared state, side by
 * side in two arrays, so that reading a state is one step from the entry and writing one allocates
 * nothing (a value and its stamp are written in place).
 */
export interface KeyEntry {
  key: unknown;
  /** Per declared state: a value or list state's value (`undefined`: absent), or a map state's entries. */
  values: unknown[];
  /** Per value or list state: the event time it was written at, which a TTL counts from. */
  times: number[];
  /**
   * Bit i set: list state i's array is held by the store alone — made by a write, not decoded from a
   * checkpoint, not handed to a checkpoint by the codec nor to user code by `get` — so `add` may append
   * in place; any other list is copied on its next `add`.
   */
  own: number;
  /** When the key's cleanup timer fires (states with a TTL); Infinity: none. */
  cleanupAt: number;
}

/** A value or list state in checkpoints and on disk; a map state is an array of [stored key, key, value, time]. */
type JsonSlot = { v: unknown; t: number } | [string, string | number, unknown, number][] | null;

/** JSON form of a {@link KeyedStateStore} in checkpoints of Rivulet 0.1 (read when restoring one). */
export type KeyedStateSnapshot = [keyString: string, key: unknown, slots: JsonSlot[]][];

/** The bit of list state `i` in {@link KeyEntry.own} (0 past the 30th: such a list is copied on every `add`). */
const ownBit = (i: number): number => (i < 30 ? 1 << i : 0);

/** A key's entry in checkpoints and on disk: `{ key, slots, cleanupAt? }`, one slot per declared state. */
export const keyEntryCodec: StateCodec<KeyEntry> = {
  encode: (e) => {
    // The checkpoint shares the lists' arrays from now on: the next `add` to one copies it.
    e.own = 0;
    const slots = e.values.map((v, i): JsonSlot => {
      if (v instanceof MapEntries) return [...v].map(([mk, m]) => [mk, m.k, m.v, m.t]);
      return v === undefined ? null : { v, t: e.times[i]! };
    });
    return (e.cleanupAt === Infinity ? { key: e.key, slots } : { key: e.key, slots, cleanupAt: e.cleanupAt }) as unknown as JsonValue;
  },
  decode: (json) => {
    const j = json as unknown as { key: unknown; slots: JsonSlot[]; cleanupAt?: number };
    const values: unknown[] = [];
    const times: number[] = [];
    for (const s of j.slots) {
      if (Array.isArray(s)) {
        values.push(new MapEntries(s.map(([mk, k, v, t]) => [mk, { k, v, t }])));
        times.push(0);
      } else {
        values.push(s === null ? undefined : s.v);
        times.push(s === null ? 0 : s.t);
      }
    }
    return { key: j.key, values, times, own: 0, cleanupAt: j.cleanupAt ?? Infinity };
  },
};

/**
 * The keyed state of one operator: for each key, the declared states, in a table of the task's state
 * backend. Accessors are built once and read the current key, which the operator selects before each
 * call into user code and releases after it (storing the entry when it holds anything). States with a
 * TTL read as absent once expired; a key holding any has a cleanup timer for its earliest expiry, so the
 * watermark removes expired state key by key, never by reading the whole table.
 */
export class KeyedStateStore {
  private readonly names: string[];
  private readonly descriptors: StateDescriptor[];
  private current: KeyEntry | undefined;
  private currentId: KeyId = '';
  /** The current entry was in the table when selected (and the table holds it: no put needed unless it empties). */
  private currentStored = false;
  /** A state with a TTL was written since `select`: the entry may need its cleanup timer. */
  private ttlWritten = false;
  /** The entry stored last and its key id, while it is in a table that holds objects. */
  private lastId: KeyId | undefined;
  private lastEntry: KeyEntry | undefined;
  private readonly holdsObjects: boolean;
  /** Event time of the call in progress: what writes are stamped with. */
  private now = -Infinity;
  /** Entries expire at or below this watermark. */
  private wm = -Infinity;
  private readonly hasTtl: boolean;
  /** `maps[i]`: state i is a map state. */
  private readonly maps: boolean[];
  /**
   * The entry of a key without state, shared: a call that only reads (a bid on an auction not seen
   * yet) makes no entry. The first write replaces it with the key's own (`writable`); nothing ever
   * changes it.
   */
  private readonly absent: KeyEntry;
  /** The selected key (the key of the entry a first write makes). */
  private currentKey: unknown;
  readonly accessors: Record<string, unknown>;

  constructor(declarations: Record<string, StateDescriptor>, private readonly entries: StateTable<KeyEntry>,
    /** When keys with TTL states are next looked at. */
    private readonly cleanups: TimerSchedule) {
    this.names = Object.keys(declarations);
    this.descriptors = Object.values(declarations);
    this.accessors = {};
    this.names.forEach((name, i) => {
      this.accessors[name] = this.accessor(i);
    });
    this.hasTtl = this.descriptors.some((d) => d.ttl !== undefined);
    this.maps = this.descriptors.map((d) => d.kind === 'map');
    this.holdsObjects = entries.holdsObjects === true;
    this.absent = this.newEntry(undefined);
  }

  get keyCount(): number {
    return this.entries.size;
  }

  /** Points the accessors at `key`, for a call happening at event time `time`. */
  select(id: KeyId, key: unknown, time: number): void {
    this.currentId = id;
    // The key of the call before (a burst of one key's events) is found without a lookup.
    this.current = id === this.lastId && this.lastEntry !== undefined ? this.lastEntry : this.entries.get(id);
    this.currentStored = this.current !== undefined;
    this.ttlWritten = false;
    this.current ??= this.absent;
    this.currentKey = key;
    // Stamps must survive JSON (checkpoints): no infinities.
    this.now = Number.isFinite(time) ? time : -8.64e15;
  }

  private newEntry(key: unknown): KeyEntry {
    const n = this.descriptors.length;
    const values: unknown[] = new Array<unknown>(n);
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      values[i] = this.descriptors[i]!.kind === 'map' ? new MapEntries() : undefined;
      times.push(0);
    }
    return { key, values, times, own: 0, cleanupAt: Infinity };
  }

  /**
   * Whether an entry holds no state. Read from the slots alone, by the kinds declared: a value held
   * is not looked at (most calls ask this of a stored entry, whose values may be anywhere in memory).
   */
  private isEmpty(e: KeyEntry): boolean {
    const { values } = e;
    const maps = this.maps;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v !== undefined && !(maps[i] && (v as MapEntries).size === 0)) return false;
    }
    return true;
  }

  /** The selected key's entry, to write to: its own, made now if it had none. */
  private writable(): KeyEntry {
    if (this.current === this.absent) this.current = this.newEntry(this.currentKey);
    return this.current!;
  }

  /** Stores the selected key's entry if it holds anything (keys without state take no memory). */
  release(): void {
    const e = this.current;
    this.current = undefined;
    this.currentKey = undefined;
    // Nothing was written to a key without state: it still has none.
    if (e === undefined || e === this.absent) return;
    // A stored entry changed in place in a table that holds objects is stored already, unless it emptied
    // or needs a cleanup timer (a TTL state written while it had none). Most calls write no TTL state
    // (q4's bids on an open auction): they must not pay for a store each.
    if (this.currentStored && this.holdsObjects && (!this.ttlWritten || e.cleanupAt !== Infinity) && !this.isEmpty(e)) {
      this.lastId = this.currentId;
      this.lastEntry = e;
      return;
    }
    this.store(this.currentId, e, this.currentStored);
  }

  /**
   * Stores an entry (`stored`: one read from the table), or deletes it when empty. Only a key without
   * a cleanup timer gets one: a later write expires after it anyway, and a write stamped earlier (an
   * out-of-order event) only waits for that timer to leave the table (it reads as absent from its
   * expiry on).
   */
  private store(k: KeyId, e: KeyEntry, stored = false): void {
    if (this.isEmpty(e)) {
      // A cleanup timer it had finds no entry when it comes out.
      this.entries.delete(k);
      if (k === this.lastId) this.lastEntry = undefined;
      return;
    }
    if (this.holdsObjects) {
      this.lastId = k;
      this.lastEntry = e;
    }
    if (this.hasTtl && e.cleanupAt === Infinity) {
      const at = this.earliestExpiry(e);
      if (at !== Infinity) {
        e.cleanupAt = at;
        this.cleanups.add(at, k, undefined);
      }
    }
    // An entry the table holds as an object is in it already (`stored`: it was read from it).
    if (!stored || !this.holdsObjects) this.entries.put(k, e);
  }

  /** When the entry's first TTL state expires (Infinity: it has none). */
  private earliestExpiry(e: KeyEntry): number {
    let at = Infinity;
    for (let i = 0; i < this.descriptors.length; i++) {
      const { ttl } = this.descriptors[i]!;
      if (ttl === undefined) continue;
      const v = e.values[i];
      if (v instanceof MapEntries) {
        for (const m of v.values()) at = Math.min(at, m.t + ttl);
      } else if (v !== undefined) {
        at = Math.min(at, e.times[i]! + ttl);
      }
    }
    return at;
  }

  /** The watermark moved: expired entries read as absent at once; the keys whose cleanup is due lose them. */
  expire(wm: number): void {
    this.wm = wm;
    for (let t = this.cleanups.pop(wm); t !== undefined; t = this.cleanups.pop(wm)) {
      const e = this.entries.get(t.id);
      // Gone, or its timer is another: a key emptied (its timer stays), or emptied and written again.
      if (!e || e.cleanupAt !== t.time) continue;
      e.cleanupAt = Infinity;
      for (let i = 0; i < this.descriptors.length; i++) {
        const { ttl } = this.descriptors[i]!;
        if (ttl === undefined) continue;
        const v = e.values[i];
        if (v instanceof MapEntries) {
          for (const [mk, m] of v) if (m.t + ttl <= wm) v.delete(mk);
        } else if (v !== undefined && e.times[i]! + ttl <= wm) {
          e.values[i] = undefined;
        }
      }
      this.store(t.id, e, true);
    }
  }

  private live(i: number, t: number): boolean {
    const ttl = this.descriptors[i]!.ttl;
    return ttl === undefined || t + ttl > this.wm;
  }

  private accessor(i: number): unknown {
    const d = this.descriptors[i]!;
    const ttl = d.ttl;
    /** The current key's value or list of state i (undefined: absent or expired). */
    const read = ttl === undefined
      ? () => this.current!.values[i]
      : () => {
        const e = this.current!;
        return e.times[i]! + ttl > this.wm ? e.values[i] : undefined;
      };
    /** Writes state i's value, stamped with the time of the call (which a TTL counts from). */
    const write = ttl === undefined
      ? (v: unknown) => {
        const e = this.writable();
        e.values[i] = v;
        e.times[i] = this.now;
      }
      : (v: unknown) => {
        const e = this.writable();
        e.values[i] = v;
        e.times[i] = this.now;
        this.ttlWritten = true;
      };
    const clear = () => {
      const e = this.current!;
      if (e !== this.absent) e.values[i] = undefined;
    };
    if (d.kind === 'value') {
      // `set(undefined)` is `clear()`: both read back as absent.
      return { get: read, set: write, clear } satisfies ValueState<unknown>;
    }
    if (d.kind === 'list') {
      const bit = ownBit(i);
      return {
        get: () => {
          const v = read() as unknown[] | undefined;
          if (v === undefined) return [];
          this.current!.own &= ~bit; // the caller holds the array now: what it was given does not change
          return v;
        },
        add: (v: unknown) => {
          const e = this.writable();
          const list = read() as unknown[] | undefined;
          // Appended in place where the store alone holds the list: a key's list grows at O(1) per add.
          if (list !== undefined && (e.own & bit) !== 0) {
            list.push(v);
            write(list);
          } else {
            write(list === undefined ? [v] : [...list, v]);
            e.own |= bit;
          }
        },
        set: (vs: unknown[]) => {
          write([...vs]);
          this.current!.own |= bit;
        },
        clear,
      } satisfies ListState<unknown>;
    }
    const map = () => this.current!.values[i] as MapEntries;
    const stamp = (): number => {
      if (ttl !== undefined) this.ttlWritten = true;
      return this.now;
    };
    const ks = (k: string | number) => (typeof k === 'string' ? `s${k}` : `n${k}`);
    const liveEntry = (k: string | number) => {
      const m = map().get(ks(k));
      return m && this.live(i, m.t) ? m : undefined;
    };
    const liveCount = () => [...map().values()].filter((m) => this.live(i, m.t)).length;
    return {
      get: (k) => liveEntry(k)?.v,
      set: (k, v) => { (this.writable().values[i] as MapEntries).set(ks(k), { k, v, t: stamp() }); },
      has: (k) => liveEntry(k) !== undefined,
      delete: (k) => { map().delete(ks(k)); },
      entries: () => [...map().values()].filter((m) => this.live(i, m.t)).map((m) => [m.k, m.v] as [string | number, unknown]),
      get size() { return liveCount(); },
      clear: () => { map().clear(); },
    } satisfies MapState<string | number, unknown>;
  }

  /**
   * The watermark a restored operator had. `legacy` is keyed state from a Rivulet 0.1 checkpoint, moved
   * into the table; with `scheduleAll` (checkpoints from before cleanup timers) every key with TTL
   * states gets its timer — one pass over the table, once.
   */
  restore(wm: number, legacy?: KeyedStateSnapshot, scheduleAll = false): void {
    this.wm = wm;
    this.lastEntry = undefined;
    for (const [k, key, slots] of legacy ?? []) this.store(keyIdOfString(k), keyEntryCodec.decode({ key, slots } as unknown as JsonValue));
    if (!scheduleAll || !this.hasTtl) return;
    for (const [k, e] of [...this.entries.entries()]) {
      e.cleanupAt = Infinity;
      this.store(k, e);
    }
  }
}
