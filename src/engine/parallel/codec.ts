/**
 * A batch of values in columns, for sending between threads. `postMessage`'s structured clone writes
 * every property name and value of every object again (about 1 µs for a 100-byte Nexmark bid, more
 * than the engine spends on it); events of a stream mostly share a few shapes, so this writes each
 * shape's field names once and its fields as columns: numbers into a `Float64Array` (sent by
 * transfer, not copied), strings as a list of distinct strings and a code per row (a field that repeats
 * — an event type, a channel — costs one string per batch), plain objects nested in a field (three
 * levels deep) as columns of their own, anything else as a list that structured clone copies. Encoders and decoders are generated per shape, so that every field read and every
 * object literal is monomorphic. Decoded strings are copies, never slices of a shared buffer, so a
 * value kept in state does not keep its batch alive.
 *
 * Plain objects (prototype `Object.prototype`) take this path; everything else — primitives, arrays,
 * class instances, objects of a ninth shape in one batch, an object whose field changed type — goes
 * as itself through structured clone, in order, so the decoded batch is what structured clone of
 * the whole batch would give — except that an object reachable twice in one batch arrives as two
 * equal copies, where structured clone keeps one (a cycle unrolls to three copies, then closes).
 */

/** One field's values for the objects of a shape: numbers, strings (joined, with lengths) or anything. */
export type Column =
  | { kind: 'n'; data: Float64Array | Int32Array }
  | { kind: 's'; data: string[]; codes: Int32Array }
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
  /** Per value: the index of its shape, or {@link AS_IS}. */
  shapeOf: Uint8Array;
  shapes: ShapeColumns[];
  /** The values that are not shaped objects, in order. */
  asIs: unknown[];
}

/** `shapeOf` of a value sent as itself. */
export const AS_IS = 255;
const MAX_SHAPES = 8;

type Kind = 'n' | 's' | 'o' | 'v';
type Kinds = Kind[];
/** How deep nested plain objects are put in columns; deeper ones (and cycles) go through structured clone. */
const MAX_DEPTH = 3;
/** Appends an object's fields to the columns at row `n`; false (nothing written) if a field's type does not fit. */
type Writer = (o: Record<string, unknown>, n: number, strings: StringColumn[], cols: unknown[], ints: Uint8Array) => boolean;

/** Distinct strings stop being looked up once a column has this many in a batch: it is not repetitive. */
const DICTIONARY_LIMIT = 64;
/** Strings longer than this are never looked up. */
const DICTIONARY_MAX_LENGTH = 32;

/** A string column being built: distinct strings looked up while few, else every string listed. */
class StringColumn {
  readonly list: string[] = [];
  private dict: Map<string, number> | undefined = new Map();
  private last: string | undefined;
  private lastCode = -1;

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
type Reader = (columns: Column[], decode: (b: EncodedBatch) => unknown[]) => () => Record<string, unknown>;

const writers = new Map<string, Writer>();
const readers = new Map<string, Reader>();

function signature(keys: readonly string[], kinds: Kinds): string {
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
  const writes = kinds.map((k, j) => (k === 'n' ? `cols[${j}][n] = f${j}; if ((f${j} | 0) !== f${j} || (f${j} === 0 && 1 / f${j} < 0)) ints[${j}] = 0;` : k === 's' ? `cols[${j}][n] = strings[${j}].code(f${j});` : `cols[${j}][n] = f${j};`)).join(' ');
  w = new Function('o', 'n', 'strings', 'cols', 'ints', `${reads} ${checks.length > 0 ? `if (${checks.join(' || ')}) return false;` : ''} ${writes} return true;`) as Writer;
  writers.set(sig, w);
  return w;
}

function readerFor(keys: readonly string[], kinds: Kinds): Reader {
  const sig = signature(keys, kinds);
  let r = readers.get(sig);
  if (r !== undefined) return r;
  const decls = kinds.map((k, j) => (k === 's'
    ? `const s${j} = columns[${j}].data, k${j} = columns[${j}].codes;`
    : k === 'o' ? `const c${j} = decode(columns[${j}].data);`
    : `const c${j} = columns[${j}].data;`)).join(' ');
  // A computed name defines an own field even for '__proto__' (a plain one would set the prototype).
  const fields = keys.map((key, j) => `${key === '__proto__' ? `[${JSON.stringify(key)}]` : JSON.stringify(key)}: ${kinds[j] === 's' ? `s${j}[k${j}[i]]` : `c${j}[i]`}`).join(', ');
  r = new Function('columns', 'decode', `${decls} let i = 0; return () => { const r = { ${fields} }; i++; return r; };`) as Reader;
  readers.set(sig, r);
  return r;
}

interface Building {
  keys: string[];
  kinds: Kinds;
  write: Writer;
  strings: StringColumn[];
  cols: unknown[];
  /** Per number column: 1 while every value is a 32-bit integer. */
  ints: Uint8Array;
  count: number;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Puts a batch in columns. The buffers of number columns are listed in `transfer` for `postMessage`. */
export function encodeBatch(values: readonly unknown[], transfer: ArrayBuffer[], depth = 0): EncodedBatch {
  const n = values.length;
  const shapeOf = new Uint8Array(n);
  const asIs: unknown[] = [];
  const building: Building[] = [];
  let last = -1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!isPlainObject(v)) {
      shapeOf[i] = AS_IS;
      asIs.push(v);
      continue;
    }
    const o = v;
    const keys = Object.keys(o);
    let s = last >= 0 && sameKeys(building[last]!.keys, keys) ? last : building.findIndex((b) => sameKeys(b.keys, keys));
    if (s < 0 && building.length < MAX_SHAPES) {
      const kinds = keys.map((k) => kindOf(o[k], depth));
      building.push({
        keys, kinds, write: writerFor(keys, kinds), count: 0,
        strings: kinds.map(() => new StringColumn()),
        ints: new Uint8Array(kinds.length).fill(1),
        cols: kinds.map((k) => (k === 'n' ? new Float64Array(n) : k === 's' ? new Int32Array(n) : new Array<unknown>(n))),
      });
      s = building.length - 1;
    }
    const b = s < 0 ? undefined : building[s]!;
    if (b === undefined || !b.write(o, b.count, b.strings, b.cols, b.ints)) {
      shapeOf[i] = AS_IS;
      asIs.push(v);
      continue;
    }
    b.count++;
    shapeOf[i] = s;
    last = s;
  }
  const shapes = building.map((b): ShapeColumns => ({
    keys: b.keys,
    count: b.count,
    columns: b.kinds.map((k, j): Column => {
      if (k === 'n') {
        // Integers travel as Int32Array, so that they arrive as small integers: a double stored
        // into a field that held small integers would change the field's representation in the
        // receiving thread and slow down every object of that shape there.
        const all = (b.cols[j] as Float64Array).subarray(0, b.count);
        const data = b.ints[j] === 1 ? Int32Array.from(all) : all.slice();
        transfer.push(data.buffer);
        return { kind: 'n', data };
      }
      if (k === 's') {
        const codes = (b.cols[j] as Int32Array).slice(0, b.count);
        transfer.push(codes.buffer);
        return { kind: 's', data: b.strings[j]!.list, codes };
      }
      if (k === 'o') return { kind: 'o', data: encodeBatch((b.cols[j] as unknown[]).slice(0, b.count), transfer, depth + 1) };
      return { kind: 'v', data: (b.cols[j] as unknown[]).slice(0, b.count) };
    }),
  }));
  transfer.push(shapeOf.buffer);
  return { shapeOf, shapes, asIs };
}

/** The values of an encoded batch, in their order. */
export function decodeBatch(batch: EncodedBatch): unknown[] {
  const next = batch.shapes.map((s) => readerFor(s.keys, s.columns.map((c) => c.kind))(s.columns, decodeBatch));
  const out = new Array<unknown>(batch.shapeOf.length);
  let a = 0;
  for (let i = 0; i < out.length; i++) {
    const s = batch.shapeOf[i]!;
    out[i] = s === AS_IS ? batch.asIs[a++] : next[s]!();
  }
  return out;
}
