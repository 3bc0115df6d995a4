/**
 * A map from package names to values, with the subset of `Map`'s interface the graph uses,
 * kept in an object without a prototype (a V8 dictionary-mode object) instead of a `Map`.
 *
 * Why: looking a name up is the index's most frequent operation (every QUERY, REMOVE and
 * dependency), and `Map.get` is a call into a generic builtin that finds the bucket and
 * compares keys as values, about 31 ns per lookup of the benchmark's names where a property
 * lookup on such an object takes about 17 ns (`scripts/name-lookup-bench.mjs`). V8 keeps
 * property keys as internalized strings: the first lookup with a name's string rewrites it in
 * place as a reference to the internalized copy, later ones compare addresses. The parser
 * hands the graph the same string object for the same name (its name cache), so that first
 * lookup is paid once per name, not per line.
 *
 * Any string is a valid key, `__proto__` included (no prototype, so no accessor), and array
 * indices such as "123" too (V8 keeps those apart, as elements). Iteration order is not
 * insertion order when such index-like names are present; the graph promises no order.
 */
export class NameMap<V> {
  #dict: Record<string, V | undefined> = Object.create(null) as Record<string, V | undefined>;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(name: string): V | undefined {
    return this.#dict[name];
  }

  has(name: string): boolean {
    return this.#dict[name] !== undefined;
  }

  /** `value` must not be undefined: undefined means absent. */
  set(name: string, value: V): void {
    const dict = this.#dict;
    if (dict[name] === undefined) this.#size++;
    dict[name] = value;
  }

  delete(name: string): boolean {
    const dict = this.#dict;
    if (dict[name] === undefined) return false;
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a dictionary by design
    delete dict[name];
    this.#size--;
    return true;
  }

  *values(): Generator<V> {
    const dict = this.#dict;
    for (const name in dict) yield dict[name]!;
  }
}
