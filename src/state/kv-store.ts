/**
 * A keyed state store: the table behind a view or an operator's keyed state. Implementations
 * (in memory now; LMDB on disk later) share one conformance suite.
 */
export interface KeyValueStore<V> {
  get(key: string): V | undefined;
  put(key: string, value: V): void;
  delete(key: string): boolean;
  /** Entries in ascending key order. */
  entries(): Iterable<[string, V]>;
  readonly size: number;
}

/**
 * A {@link KeyValueStore} held in process memory: the default for views and small state.
 *
 * @example
 * ```ts
 * const store = new MemoryKeyValueStore<number>();
 * store.put('card-1', 3);
 * store.get('card-1'); // 3
 * ```
 */
export class MemoryKeyValueStore<V> implements KeyValueStore<V> {
  private readonly map = new Map<string, V>();
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  put(key: string, value: V): void {
    this.map.set(key, value);
  }
  delete(key: string): boolean {
    return this.map.delete(key);
  }
  entries(): Iterable<[string, V]> {
    return [...this.map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  get size(): number {
    return this.map.size;
  }
}
