/**
 * The dependency index: a directed acyclic graph of packages and the rules that keep it
 * consistent. Pure and synchronous; it knows nothing of sockets or disks.
 *
 * Invariants, checked by `verify()`:
 * - every dependency of an indexed package is indexed;
 * - `dependents` of each package equals the number of packages that list it;
 * - there is no cycle, so every package can eventually be removed.
 */

/** What `index()` did. Mutating outcomes are the ones a durable store must log. */
export const IndexOutcome = {
  ADDED: 'added',
  REPLACED: 'replaced',
  UNCHANGED: 'unchanged',
  MISSING_DEPENDENCY: 'missing-dependency',
  CYCLE: 'cycle',
} as const;
export type IndexOutcome = (typeof IndexOutcome)[keyof typeof IndexOutcome];

/** What `remove()` did. */
export const RemoveOutcome = { REMOVED: 'removed', ABSENT: 'absent', REQUIRED: 'required' } as const;
export type RemoveOutcome = (typeof RemoveOutcome)[keyof typeof RemoveOutcome];

interface Entry {
  readonly name: string;
  deps: Entry[];
  /** How many indexed packages list this one: REMOVE is O(1) on it. */
  dependents: number;
  /** Marker for the cycle search; compared against the graph's current search epoch. */
  visited: number;
}

export interface GraphStats {
  readonly packages: number;
  readonly edges: number;
}

export class DependencyGraph {
  readonly #entries = new Map<string, Entry>();
  #edges = 0;
  #epoch = 0;
  /** Scratch for `index()`; its slots past the current count hold stale entries, never read. */
  readonly #resolved: Entry[] = [];

  get size(): number {
    return this.#entries.size;
  }

  /** Number of dependency edges (distinct package → dependency pairs). */
  get edgeCount(): number {
    return this.#edges;
  }

  stats(): GraphStats {
    return { packages: this.#entries.size, edges: this.#edges };
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /** The dependencies of `name`, or undefined when not indexed. */
  dependenciesOf(name: string): readonly string[] | undefined {
    return this.#entries.get(name)?.deps.map((d) => d.name);
  }

  /** How many indexed packages depend on `name` (0 when not indexed). */
  dependentCount(name: string): number {
    return this.#entries.get(name)?.dependents ?? 0;
  }

  /**
   * Indexes `name` with exactly `deps` (duplicates count once), or replaces the dependency
   * list of an indexed package. Nothing changes unless every dependency is indexed and the
   * new edges create no cycle.
   */
  index(name: string, deps: readonly string[]): IndexOutcome {
    // Resolved into a scratch array: most INDEX lines either fail or replace a list in place,
    // and neither needs a new array. An array kept by an entry outlives the young generation,
    // so every one allocated here is paid again by the garbage collector.
    const resolved = this.#resolved;
    let count = 0;
    const epoch = ++this.#epoch;
    const entries = this.#entries;
    const existing = entries.get(name);
    // A re-indexed package mostly lists the dependencies it had, in the same order (a client
    // re-sends its line, or adds one at the end): the entry already holds them, so a name
    // equal to the one at the same position needs no lookup in the map.
    const had = existing?.deps;
    for (let i = 0; i < deps.length; i++) {
      const depName = deps[i]!;
      let dep: Entry | undefined;
      if (had !== undefined && i < had.length && had[i]!.name === depName) dep = had[i]!;
      else {
        dep = entries.get(depName);
        if (dep === undefined) return IndexOutcome.MISSING_DEPENDENCY;
      }
      if (dep.visited !== epoch) {
        dep.visited = epoch;
        resolved[count++] = dep;
      }
    }
    if (existing === undefined) {
      // A package not yet indexed has no dependents, so its edges cannot close a cycle.
      const own = resolved.slice(0, count);
      for (const dep of own) dep.dependents++;
      this.#edges += count;
      entries.set(name, { name, deps: own, dependents: 0, visited: 0 });
      return IndexOutcome.ADDED;
    }
    const old = existing.deps;
    // `resolved[0, count)` is exactly the set of entries marked with `epoch`.
    if (old.length === count && allMarked(old, epoch)) return IndexOutcome.UNCHANGED;
    // A cycle is a self-dependency (`existing` is among the marked deps), or a path back to
    // `existing`, whose last edge makes it a dependent: without dependents there is none.
    if (existing.visited === epoch) return IndexOutcome.CYCLE;
    if (existing.dependents > 0 && this.#reaches(resolved, count, existing)) return IndexOutcome.CYCLE;
    for (const dep of old) dep.dependents--;
    this.#edges += count - old.length;
    for (let i = 0; i < count; i++) {
      const dep = resolved[i]!;
      dep.dependents++;
      old[i] = dep;
    }
    // pop() is inlined where the length setter is a call into the runtime.
    while (old.length > count) old.pop();
    return IndexOutcome.REPLACED;
  }

  /** Removes `name` unless another indexed package depends on it. */
  remove(name: string): RemoveOutcome {
    const entry = this.#entries.get(name);
    if (entry === undefined) return RemoveOutcome.ABSENT;
    if (entry.dependents > 0) return RemoveOutcome.REQUIRED;
    for (const dep of entry.deps) dep.dependents--;
    this.#edges -= entry.deps.length;
    this.#entries.delete(name);
    return RemoveOutcome.REMOVED;
  }

  /** Every package with its dependencies, dependencies always before their dependents. */
  *topological(): Generator<[name: string, deps: readonly string[]]> {
    const epoch = ++this.#epoch;
    const stack: [Entry, number][] = [];
    for (const root of this.#entries.values()) {
      if (root.visited === epoch) continue;
      root.visited = epoch;
      stack.push([root, 0]);
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const [entry, i] = top;
        if (i < entry.deps.length) {
          top[1] = i + 1;
          const dep = entry.deps[i]!;
          if (dep.visited !== epoch) {
            dep.visited = epoch;
            stack.push([dep, 0]);
          }
        } else {
          stack.pop();
          yield [entry.name, entry.deps.map((d) => d.name)];
        }
      }
    }
  }

  /** Every package and its dependencies, in no particular order. */
  *entries(): Generator<[name: string, deps: readonly string[]]> {
    for (const entry of this.#entries.values()) yield [entry.name, entry.deps.map((d) => d.name)];
  }

  /**
   * Checks every invariant from scratch. Returns a list of violations, empty when consistent.
   * O(packages + edges); meant for recovery and tests, not the hot path.
   */
  verify(): string[] {
    const problems: string[] = [];
    const counted = new Map<Entry, number>();
    let edges = 0;
    for (const entry of this.#entries.values()) {
      edges += entry.deps.length;
      for (const dep of entry.deps) {
        if (this.#entries.get(dep.name) !== dep)
          problems.push(`${entry.name} depends on unindexed ${dep.name}`);
        counted.set(dep, (counted.get(dep) ?? 0) + 1);
      }
    }
    if (edges !== this.#edges) problems.push(`edge count is ${this.#edges}, counted ${edges}`);
    for (const entry of this.#entries.values()) {
      const n = counted.get(entry) ?? 0;
      if (n !== entry.dependents)
        problems.push(`${entry.name} has ${entry.dependents} dependents recorded, ${n} real`);
    }
    let emitted = 0;
    for (const _ of this.#acyclicOrder()) emitted++;
    if (emitted !== this.#entries.size) problems.push(`cycle among ${this.#entries.size - emitted} packages`);
    return problems;
  }

  /** Kahn's algorithm: yields packages while a dependency-free one remains. */
  *#acyclicOrder(): Generator<Entry> {
    const pending = new Map<Entry, number>();
    const ready: Entry[] = [];
    for (const entry of this.#entries.values()) {
      pending.set(entry, entry.deps.length);
      if (entry.deps.length === 0) ready.push(entry);
    }
    const dependentsOf = new Map<Entry, Entry[]>();
    for (const entry of this.#entries.values())
      for (const dep of entry.deps) {
        const list = dependentsOf.get(dep);
        if (list === undefined) dependentsOf.set(dep, [entry]);
        else list.push(entry);
      }
    while (ready.length > 0) {
      const entry = ready.pop()!;
      yield entry;
      for (const user of dependentsOf.get(entry) ?? []) {
        const left = pending.get(user)! - 1;
        pending.set(user, left);
        if (left === 0) ready.push(user);
      }
    }
  }

  /** True when `target` is reachable from any of `from[0, count)` by following dependency edges. */
  #reaches(from: readonly Entry[], count: number, target: Entry): boolean {
    const epoch = ++this.#epoch;
    const stack = from.slice(0, count);
    while (stack.length > 0) {
      const entry = stack.pop()!;
      if (entry === target) return true;
      if (entry.visited === epoch) continue;
      entry.visited = epoch;
      for (const dep of entry.deps) if (dep.visited !== epoch) stack.push(dep);
    }
    return false;
  }
}

function allMarked(entries: readonly Entry[], epoch: number): boolean {
  for (const entry of entries) if (entry.visited !== epoch) return false;
  return true;
}
