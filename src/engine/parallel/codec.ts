/**
 * A batch of values in columns, for sending between threads. `postMessage`'s structured clone writes
 * every property name and value of every object again (about 1 µs for a 100-byte Nexmark bid, more
 * than the engine spends on it); events of a stream mostly share a few shapes, so this writes each
 * shape's field names once and its fields as columns: numbers in one `Float64Array` per batch (or,
 * where all of a column's are 32-bit integers, in one `Int32Array`, with the shapes of the values and
 * the codes of strings), strings as a list of distinct strings and a code per row (a field that repeats
 * — an event type, a channel — costs one string per batch), plain objects nested in a field (three
 * levels deep) as columns of their own, anything else as a list that structured clone copies. A batch
 * is two typed arrays whatever its shapes: each typed array costs an allocation at both ends (more
 * than the numbers in it), and large ones are moved, not copied. Encoders and decoders are generated
 * per shape, so that every field read and every object literal is monomorphic. Decoded strings are
 * copies, never slices of a shared buffer, so a value kept in state does not keep its batch alive.
 *
 * Plain objects (prototype `Object.prototype`) take this path; everything else — primitives, arrays,
 * class instances, objects of a ninth shape in one batch, an object whose field changed type — goes
 * as itself through structured clone, in order, so the decoded batch is what structured clone of
 * the whole batch would give — except that an object reachable twice in one batch arrives as two
 * equal copies, where structured clone keeps one (a cycle unrolls to three copies, then closes).
 */

/**
 * One field's values for the objects of a shape, `count` of them from `at`: doubles in the batch's
 * `f64`, 32-bit integers or string codes in its `i32`, plain objects in a batch of their own, or anything.
 */
export type Column =
  | { kind: 'f'; at: number }
  | { kind: 'i'; at: number }
  | { kind: 's'; data: string[]; at: number }
  /** Plain objects nested in a field, themselves in columns. */
  | { kind: 'o'; data: EncodedBatch }
  | { kind: 'v'; data: unknown[] };

/** The objects of one shape in a batch. */
export interface ShapeColumns {
  keys: string[];
  columns: Column[];
  count: number;
}

/** A batch in columns. */
export interface EncodedBatch {
  /** How many values. */
  count: number;
  /** The doubles of the number columns that are not all 32-bit integers. */
  f64: Float64Array<ArrayBuffer>;
  /** Per value its shape index or {@link AS_IS} (the first `count`), then integer columns and string codes. */
  i32: Int32Array<ArrayBuffer>;
  shapes: ShapeColumns[];
  /** The values that are not shaped objects, in order. */
  asIs: unknown[];
}

/** The shape index of a value sent as itself. */
export const AS_IS = 255;
const MAX_SHAPES = 8;
/** Below this many bytes a typed array is copied with its message rather than moved: moving costs more. */
export const TRANSFER_MIN_BYTES = 4096;

/** A field's kind while its batch is built: a number, a string, a nested plain object or anything. */
type Kind = 'n' | 's' | 'o' | 'v';
type Kinds = Kind[];
/** How deep nested plain objects are put in columns; deeper ones (and cycles) go through structured clone. */
const MAX_DEPTH = 3;
/**
 * Writes an object's fields at row `n`: number column j at `F[at[j] + n]`, string codes at `I[at[j] + n]`,
 * anything else into `cols[j][n]`; false (nothing written) if a field's type does not fit.
 */
type Writer = (o: Record<string, unknown>, n: number, strings: StringColumn[], F: Float64Array, I: Int32Array, at: Int32Array, cols: unknown[][], ints: Uint8Array) => boolean;

/** Distinct strings stop being looked up once a column has this many in a batch: it is not repetitive. */
const DICTIONARY_LIMIT = 64;
/** Strings longer than this are never looked up. */
const DICTIONARY_MAX_LENGTH = 32;

/**
 * A string column being built: distinct strings looked up while few, else every string listed. A
 * column whose strings did not repeat in its shape's last batch skips the lookups (see {@link ShapeCodec}).
 */
class StringColumn {
  readonly list: string[] = [];
  private dict: Map<string, number> | undefined;
  private last: string | undefined;
  private lastCode = -1;

  constructor(lookUp: boolean) {
    if (lookUp) this.dict = new Map();
  }

  code(s: string): number {
    if (s === this.last) return this.lastCode;
    let c: number | undefined;
    // Long strings are rarely repeated and costly to hash: listed as they come.
    if (this.dict !== undefined && s.length <= DICTIONARY_MAX_LENGTH) {
      c = this.dict.get(s);
      if (c === undefined) {
        c = this.list.push(s) - 1;
        if (c < DICTIONARY_LIMIT) this.dict.set(s, c);
        else this.dict = undefined;
      }
    } else c = this.list.push(s) - 1;
    this.last = s;
    this.lastCode = c;
    return c;
  }
}

/**
 * What the encoder keeps of a shape between batches: its writer, and per string column whether its
 * strings repeated last time (a name or an e-mail address never does: looking each up only costs).
 * A column that did not repeat is looked up again every {@link RETRY_LOOKUPS}th batch.
 */
interface ShapeCodec {
  keys: string[];
  kinds: Kinds;
  write: Writer;
  repeats: Uint8Array;
  batches: number;
}
const RETRY_LOOKUPS = 16;
/** The shapes seen last, found without building their signature. */
const recentShapes: ShapeCodec[] = [];
const shapeCodecs = new Map<string, ShapeCodec>();

function shapeCodecFor(keys: string[], kinds: Kinds): ShapeCodec {
  for (const c of recentShapes) if (sameKeys(c.keys, keys) && sameKeys(c.kinds, kinds)) return c;
  const sig = signature(keys, kinds);
  let c = shapeCodecs.get(sig);
  if (c === undefined) {
    c = { keys, kinds, write: writerFor(keys, kinds), repeats: new Uint8Array(kinds.length).fill(1), batches: 0 };
    shapeCodecs.set(sig, c);
  }
  recentShapes.unshift(c);
  if (recentShapes.length > MAX_SHAPES) recentShapes.pop();
  return c;
}

/** Reads the objects of one shape, one per call, in order. */
type Reader = (columns: Column[], F: Float64Array, I: Int32Array, decode: (b: EncodedBatch) => unknown[]) => () => Record<string, unknown>;

const writers = new Map<string, Writer>();
const readers = new Map<string, Reader>();

function signature(keys: readonly string[], kinds: readonly string[]): string {
  return `${kinds.join('')}:${JSON.stringify(keys)}`;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype;
}

function kindOf(x: unknown, depth: number): Kind {
  if (typeof x === 'number') return 'n';
  if (typeof x === 'string') return 's';
  return depth < MAX_DEPTH && isPlainObject(x) ? 'o' : 'v';
}

function writerFor(keys: readonly string[], kinds: Kinds): Writer {
  const sig = signature(keys, kinds);
  let w = writers.get(sig);
  if (w !== undefined) return w;
  const reads = keys.map((k, j) => `const f${j} = o[${JSON.stringify(k)}];`).join(' ');
  const checks = kinds.map((k, j) => (k === 'n' ? `typeof f${j} !== 'number'` : k === 's' ? `typeof f${j} !== 'string'`
    : k === 'o' ? `f${j} === null || typeof f${j} !== 'object' || Object.getPrototypeOf(f${j}) !== Object.prototype` : '')).filter(Boolean);
  // A number column stays "integers" while every value is a 32-bit integer other than -0 (see encodeBatch).
  const writes = kinds.map((k, j) => (k === 'n' ? `F[at[${j}] + n] = f${j}; if ((f${j} | 0) !== f${j} || (f${j} === 0 && 1 / f${j} < 0)) ints[${j}] = 0;`
    : k === 's' ? `I[at[${j}] + n] = strings[${j}].code(f${j});` : `cols[${j}].push(f${j});`)).join(' ');
  w = new Function('o', 'n', 'strings', 'F', 'I', 'at', 'cols', 'ints',
    `${reads} ${checks.length > 0 ? `if (${checks.join(' || ')}) return false;` : ''} ${writes} return true;`) as Writer;
  writers.set(sig, w);
  return w;
}

function readerFor(keys: readonly string[], kinds: readonly Column['kind'][]): Reader {
  const sig = signature(keys, kinds);
  let r = readers.get(sig);
  if (r !== undefined) return r;
  const decls = kinds.map((k, j) => (k === 's' ? `const s${j} = columns[${j}].data, a${j} = columns[${j}].at;`
    : k === 'f' || k === 'i' ? `const a${j} = columns[${j}].at;`
      : k === 'o' ? `const c${j} = decode(columns[${j}].data);`
        : `const c${j} = columns[${j}].data;`)).join(' ');
  const value = (k: Column['kind'], j: number) => (k === 's' ? `s${j}[I[a${j} + i]]` : k === 'f' ? `F[a${j} + i]` : k === 'i' ? `I[a${j} + i]` : `c${j}[i]`);
  // A computed name defines an own field even for '__proto__' (a plain one would set the prototype).
  const fields = keys.map((key, j) => `${key === '__proto__' ? `[${JSON.stringify(key)}]` : JSON.stringify(key)}: ${value(kinds[j]!, j)}`).join(', ');
  r = new Function('columns', 'F', 'I', 'decode', `${decls} let i = 0; return () => { const r = { ${fields} }; i++; return r; };`) as Reader;
  readers.set(sig, r);
  return r;
}

/**
 * Where the columns of the batch being encoded are built, reused by every batch: number columns in
 * `F`, string codes and shape indexes in `I`. A batch takes space from `usedF`/`usedI` on and gives it
 * back when done (a nested batch is encoded after its parent's columns are copied out).
 */
const scratch: { F: Float64Array; I: Int32Array; usedF: number; usedI: number } = { F: new Float64Array(4096), I: new Int32Array(4096), usedF: 0, usedI: 0 };

/** Takes `n` slots of scratch `F` (or `I`), growing it (keeping what is in use): the first slot's index. */
function reserve(which: 'F' | 'I', n: number): number {
  const used = which === 'F' ? scratch.usedF : scratch.usedI;
  const have = scratch[which];
  if (used + n > have.length) {
    const size = Math.max(2 * have.length, used + n);
    const grown = which === 'F' ? new Float64Array(size) : new Int32Array(size);
    grown.set(have.subarray(0, used));
    if (grown instanceof Float64Array) scratch.F = grown;
    else scratch.I = grown;
  }
  if (which === 'F') scratch.usedF += n;
  else scratch.usedI += n;
  return used;
}

/** A shape's objects in the batch being encoded. */
interface Building {
  codec: ShapeCodec;
  strings: StringColumn[];
  /** Per number or string column: where its rows start in scratch `F` (numbers) or `I` (codes). */
  at: Int32Array;
  /** Per column of nested objects or anything: its values. */
  cols: unknown[][];
  /** Per number column: 1 while every value is a 32-bit integer. */
  ints: Uint8Array;
  count: number;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Copies integers held as doubles (a loop of its own: one kind of array each side keeps it fast). */
function copyInts(from: Float64Array, fromAt: number, to: Int32Array, toAt: number, count: number): void {
  for (let r = 0; r < count; r++) to[toAt + r] = from[fromAt + r]!;
}

const NO_DOUBLES = new Float64Array(0);

/** Puts a batch in columns. Typed arrays large enough to be worth moving are listed in `transfer` for `postMessage`. */
export function encodeBatch(values: readonly unknown[], transfer: ArrayBuffer[], depth = 0): EncodedBatch {
  const baseF = scratch.usedF;
  const baseI = scratch.usedI;
  let batch: EncodedBatch;
  let building: Building[];
  try {
    [batch, building] = encodeColumns(values, depth);
  } finally {
    // The scratch space is free again (also when a getter threw); nested objects are encoded in it now.
    scratch.usedF = baseF;
    scratch.usedI = baseI;
  }
  building.forEach((b, s) => b.codec.kinds.forEach((k, j) => {
    if (k === 'o') batch.shapes[s]!.columns[j] = { kind: 'o', data: encodeBatch(b.cols[j]!, transfer, depth + 1) };
  }));
  if (batch.f64.byteLength >= TRANSFER_MIN_BYTES) transfer.push(batch.f64.buffer);
  if (batch.i32.byteLength >= TRANSFER_MIN_BYTES) transfer.push(batch.i32.buffer);
  return batch;
}

/** The batch with every column but nested objects' (left as 'v', their objects in the building). */
function encodeColumns(values: readonly unknown[], depth: number): [EncodedBatch, Building[]] {
  const n = values.length;
  const shapeAt = reserve('I', n);
  const asIs: unknown[] = [];
  const building: Building[] = [];
  let last = -1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!isPlainObject(v)) {
      scratch.I[shapeAt + i] = AS_IS;
      asIs.push(v);
      continue;
    }
    const o = v;
    const keys = Object.keys(o);
    let s = last >= 0 && sameKeys(building[last]!.codec.keys, keys) ? last : building.findIndex((b) => sameKeys(b.codec.keys, keys));
    if (s < 0 && building.length < MAX_SHAPES) {
      const kinds = keys.map((k) => kindOf(o[k], depth));
      // Room for every row still to come, which may all be of this shape.
      const at = new Int32Array(kinds.length).fill(-1);
      kinds.forEach((k, j) => { if (k === 'n' || k === 's') at[j] = reserve(k === 'n' ? 'F' : 'I', n - i); });
      const codec = shapeCodecFor(keys, kinds);
      const retry = codec.batches++ % RETRY_LOOKUPS === 0;
      building.push({
        codec, count: 0, at,
        strings: kinds.map((_, j) => new StringColumn(retry || codec.repeats[j] === 1)),
        ints: new Uint8Array(kinds.length).fill(1),
        cols: kinds.map(() => []),
      });
      s = building.length - 1;
    }
    const b = s < 0 ? undefined : building[s]!;
    if (b === undefined || !b.codec.write(o, b.count, b.strings, scratch.F, scratch.I, b.at, b.cols, b.ints)) {
      scratch.I[shapeAt + i] = AS_IS;
      asIs.push(v);
      continue;
    }
    b.count++;
    scratch.I[shapeAt + i] = s;
    last = s;
  }
  // Integers travel in `i32`, so that they arrive as small integers: a double stored into a field that
  // held small integers would change the field's representation in the receiving thread and slow
  // down every object of that shape there.
  let doubles = 0;
  let int32s = n;
  for (const b of building) {
    b.codec.kinds.forEach((k, j) => {
      if (k === 'n' && b.ints[j] === 0) doubles += b.count;
      else if (k === 'n' || k === 's') int32s += b.count;
    });
  }
  const f64 = doubles === 0 ? NO_DOUBLES : new Float64Array(doubles);
  const i32 = new Int32Array(int32s);
  i32.set(scratch.I.subarray(shapeAt, shapeAt + n));
  let nextF = 0;
  let nextI = n;
  const shapes = building.map((b): ShapeColumns => ({
    keys: b.codec.keys,
    count: b.count,
    columns: b.codec.kinds.map((k, j): Column => {
      const from = b.at[j]!;
      if (k === 'n' && b.ints[j] === 0) {
        f64.set(scratch.F.subarray(from, from + b.count), nextF);
        nextF += b.count;
        return { kind: 'f', at: nextF - b.count };
      }
      if (k === 'n') {
        copyInts(scratch.F, from, i32, nextI, b.count);
        nextI += b.count;
        return { kind: 'i', at: nextI - b.count };
      }
      if (k === 's') {
        i32.set(scratch.I.subarray(from, from + b.count), nextI);
        nextI += b.count;
        // Repetitive: at most half as many distinct strings as rows.
        b.codec.repeats[j] = 2 * b.strings[j]!.list.length <= b.count ? 1 : 0;
        return { kind: 's', data: b.strings[j]!.list, at: nextI - b.count };
      }
      return { kind: 'v', data: b.cols[j]! };
    }),
  }));
  return [{ count: n, f64, i32, shapes, asIs }, building];
}

/** The values of an encoded batch, in their order. */
export function decodeBatch(batch: EncodedBatch): unknown[] {
  const { f64, i32 } = batch;
  const next = batch.shapes.map((s) => readerFor(s.keys, s.columns.map((c) => c.kind))(s.columns, f64, i32, decodeBatch));
  const out = new Array<unknown>(batch.count);
  let a = 0;
  for (let i = 0; i < out.length; i++) {
    const s = i32[i]!;
    out[i] = s === AS_IS ? batch.asIs[a++] : next[s]!();
  }
  return out;
}

/**
 * A batch as exchange messages held it before all its columns shared two typed arrays: each number
 * column in a typed array of its own, string codes beside their strings. Exchange topics may hold
 * such messages.
 */
export interface BatchOfColumnArrays {
  shapeOf: Uint8Array;
  shapes: {
    keys: string[];
    count: number;
    columns: (
      | { kind: 'n'; data: Float64Array | Int32Array }
      | { kind: 's'; data: string[]; codes: Int32Array }
      | { kind: 'o'; data: BatchOfColumnArrays }
      | { kind: 'v'; data: unknown[] })[];
  }[];
  asIs: unknown[];
}

/** A batch of the earlier layout ({@link BatchOfColumnArrays}) in the current one, to decode. */
export function fromColumnArrays(b: BatchOfColumnArrays): EncodedBatch {
  const n = b.shapeOf.length;
  let doubles = 0;
  let int32s = n;
  for (const s of b.shapes) {
    for (const c of s.columns) {
      if (c.kind === 'n' && !(c.data instanceof Int32Array)) doubles += s.count;
      else if (c.kind === 'n' || c.kind === 's') int32s += s.count;
    }
  }
  const f64 = new Float64Array(doubles);
  const i32 = new Int32Array(int32s);
  i32.set(b.shapeOf);
  let nextF = 0;
  let nextI = n;
  const shapes = b.shapes.map((s): ShapeColumns => ({
    keys: s.keys,
    count: s.count,
    columns: s.columns.map((c): Column => {
      if (c.kind === 'n' && !(c.data instanceof Int32Array)) {
        f64.set(c.data, nextF);
        nextF += s.count;
        return { kind: 'f', at: nextF - s.count };
      }
      if (c.kind === 'n' || c.kind === 's') {
        i32.set(c.kind === 'n' ? c.data : c.codes, nextI);
        nextI += s.count;
        return c.kind === 'n' ? { kind: 'i', at: nextI - s.count } : { kind: 's', data: c.data, at: nextI - s.count };
      }
      return c.kind === 'o' ? { kind: 'o', data: fromColumnArrays(c.data) } : c;
    }),
  }));
  return { count: n, f64, i32, shapes, asIs: b.asIs };
}
