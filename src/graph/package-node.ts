/**
 * One indexed package as the dependency graph keeps it: its dependencies, the packages that
 * depend on it (the reverse edges), and its place in a topological order. Internal to
 * `src/graph`: the graph owns every node; queries read them through `PackageNode`, the
 * functions below and the graph's methods.
 *
 * The protocol's hot path and memory decide the layout (a million packages must recover
 * within 450 MiB; INDEX and REMOVE of a package must stay O(its dependencies) and cost about
 * what they did before there were reverse edges):
 * - `links` holds each dependency followed by this package's position among that
 *   dependency's dependents: `[dep0, at0, dep1, at1, …]`: one array per package, as before
 *   the reverse edges, plus 8 bytes per edge.
 * - `users` holds, for each dependent, its id (a small integer, see `NodeTable`) and the
 *   index of this package among that one's dependencies: `[id0, i0, id1, i1, …]`, in the
 *   first `2 × dependents` slots, doubling when full and halving when a quarter full.
 *   Removing a dependent moves the last one into its place and fixes that one's position in
 *   its own links: O(1).
 * Measured alternatives: Sets of dependents cost ~150 ns per addition or removal (hashing,
 * deleted entries, rehashing), at the 84 % of the edges INDEX and REMOVE touch in the
 * benchmark's workload that go to packages with hundreds of dependents; arrays of the
 * packages themselves make every new package a pointer from old arrays to a young object
 * (a write barrier and remembered-set entry per edge, and work for every scavenge); arrays
 * grown by `push()` keep 16 spare slots each; arrays copied at every addition fill the old
 * generation with garbage that only full collections reclaim.
 */

/** A package as queries see it: read-only. */
export interface PackageNode {
  readonly name: string;
  /** How many packages depend on it. */
  readonly dependents: number;
}

/** The graph's own, mutable view of a package. */
export interface Entry extends PackageNode {
  /** `[dep0, at0, dep1, at1, …]`: its dependencies, each once, and where it sits among each one's users. */
  links: (Entry | number)[];
  /** `[id0, i0, id1, i1, …]`: the packages that list this one, and where among their dependencies; the rest is 0. */
  users: number[];
  dependents: number;
  /** Scratch for searches: equal to the graph's current epoch when visited by the current one. */
  mark: number;
  /** Position in the graph's topological order: every dependency has a smaller `ord`. */
  ord: number;
  /** Its id in the graph's NodeTable (never 0). */
  id: number;
}

/** The dependents of a package that never had any. Shared: never written to (its length is 0). */
export const NO_USERS: number[] = [];

export function newEntry(name: string, links: (Entry | number)[], ord: number): Entry {
  return { name, links, users: NO_USERS, dependents: 0, mark: 0, ord, id: 0 };
}

/** How many packages `node` depends on. */
export function dependencyCount(node: PackageNode): number {
  return (node as Entry).links.length >> 1;
}

/** The `i`-th dependency of `node`, in the order indexed. */
export function dependencyAt(node: PackageNode, i: number): PackageNode {
  return (node as Entry).links[2 * i] as Entry;
}

/** The packages `node` depends on, in the order indexed (a new array). */
export function dependenciesOf(node: PackageNode): PackageNode[] {
  const links = (node as Entry).links;
  const out: PackageNode[] = [];
  for (let i = 0; i < links.length; i += 2) out.push(links[i] as Entry);
  return out;
}

/**
 * Every package of one graph by a small integer id, so that reverse edges are arrays of
 * integers (no pointers for the garbage collector to follow or remember), and the edges
 * themselves: linking and unlinking a dependency keeps both directions in step.
 */
export class NodeTable {
  /** Entry by id; id 0 is never used. */
  readonly byId: (Entry | undefined)[] = [undefined];
  readonly #free: number[] = [];

  /** Gives `entry` an id (one freed earlier, if any). */
  add(entry: Entry): void {
    const id = this.#free.pop() ?? this.byId.length;
    entry.id = id;
    this.byId[id] = entry;
  }

  /** Frees the id of `entry`, which has no dependency and no dependent left. */
  drop(entry: Entry): void {
    this.byId[entry.id] = undefined;
    this.#free.push(entry.id);
  }

  /**
   * Makes `dep` the `i`-th dependency of `user` (`user.links` has room for it); true when
   * `dep` had no dependents before.
   */
  link(user: Entry, i: number, dep: Entry): boolean {
    const n = dep.dependents;
    let users = dep.users;
    if (2 * n === users.length) {
      const grown = new Array<number>(n === 0 ? 2 : 4 * n).fill(0);
      for (let k = 0; k < 2 * n; k++) grown[k] = users[k]!;
      users = dep.users = grown;
    }
    users[2 * n] = user.id;
    users[2 * n + 1] = i;
    dep.dependents = n + 1;
    user.links[2 * i] = dep;
    user.links[2 * i + 1] = n;
    return n === 0;
  }

  /** Removes `user` from the dependents of its `i`-th dependency; true when that one has none left. */
  unlink(user: Entry, i: number): boolean {
    const links = user.links;
    const dep = links[2 * i] as Entry;
    const at = links[2 * i + 1] as number;
    const n = dep.dependents - 1;
    const users = dep.users;
    const last = users[2 * n]!;
    const lastIndex = users[2 * n + 1]!;
    dep.dependents = n;
    users[2 * at] = last;
    users[2 * at + 1] = lastIndex;
    users[2 * n] = 0;
    users[2 * n + 1] = 0;
    if (last !== user.id) this.byId[last]!.links[2 * lastIndex + 1] = at;
    if (n > 8 && 4 * n < users.length >> 1) {
      const shrunk = new Array<number>(4 * n).fill(0);
      for (let k = 0; k < 2 * n; k++) shrunk[k] = users[k]!;
      dep.users = shrunk;
    }
    return n === 0;
  }

  /** The `k`-th dependent of `node` (k < node.dependents). */
  dependentAt(node: PackageNode, k: number): Entry {
    return this.byId[(node as Entry).users[2 * k]!]!;
  }

  /** Problems with `entry`'s links and dependents (verify). */
  check(entry: Entry): string[] {
    const problems: string[] = [];
    const { links, users, dependents } = entry;
    if (this.byId[entry.id] !== entry) problems.push(`${entry.name} is not under its id ${entry.id}`);
    if (links.length % 2 !== 0) problems.push(`${entry.name} has an odd links array`);
    for (let i = 0; i < links.length; i += 2) {
      const dep = links[i] as Entry;
      const at = links[i + 1] as number;
      if (!(
        at >= 0 &&
        at < dep.dependents &&
        dep.users[2 * at] === entry.id &&
        dep.users[2 * at + 1] === i >> 1
      ))
        problems.push(`${entry.name} is not at ${at} among the dependents of ${dep.name}`);
    }
    if (2 * dependents > users.length)
      problems.push(`${entry.name} counts ${dependents} dependents in ${users.length} slots`);
    for (let k = 0; k < dependents; k++) {
      const user = this.byId[users[2 * k]!];
      if (user?.links[2 * users[2 * k + 1]!] !== entry || user.links[2 * users[2 * k + 1]! + 1] !== k)
        problems.push(`${entry.name}'s dependent ${k} (id ${users[2 * k]}) does not point back`);
    }
    for (let i = 2 * dependents; i < users.length; i++)
      if (users[i] !== 0) problems.push(`${entry.name}'s free dependent slot ${i} holds ${users[i]}`);
    return problems;
  }
}

/**
 * Per-walk marks and one number per package, by id, for the queries' walks: a typed array and
 * an epoch instead of a Set or a Map, so a walk of a million packages neither hashes each one
 * nor pauses while a hash table doubles. Independent of the marks cycle checks use, so a query
 * may run while a re-index is pending. Sized to the graph's ids when a walk begins.
 */
export class VisitMarks {
  #marks = new Int32Array(0);
  #values = new Int32Array(0);
  #epoch = 0;
  readonly #table: NodeTable;

  constructor(table: NodeTable) {
    this.#table = table;
  }

  /** Starts a walk: every package unseen. */
  begin(): void {
    const size = this.#table.byId.length;
    if (this.#marks.length < size) {
      const length = Math.max(size, 2 * this.#marks.length, 1024);
      this.#marks = new Int32Array(length);
      this.#values = new Int32Array(length);
      this.#epoch = 0;
    }
    if (++this.#epoch === 0x7fffffff) {
      this.#marks.fill(0);
      this.#epoch = 1;
    }
  }

  /** Marks `node` seen in this walk; false when it already was. */
  see(node: PackageNode): boolean {
    const id = (node as Entry).id;
    const marks = this.#marks;
    // A package added since `begin()` has an id past the arrays: seen as new, never marked.
    if (id >= marks.length) return true;
    if (marks[id] === this.#epoch) return false;
    marks[id] = this.#epoch;
    return true;
  }

  seen(node: PackageNode): boolean {
    const id = (node as Entry).id;
    return id < this.#marks.length && this.#marks[id] === this.#epoch;
  }

  /** The number kept for `node` in this walk (0 unless set). */
  value(node: PackageNode): number {
    return this.#values[(node as Entry).id] ?? 0;
  }

  setValue(node: PackageNode, value: number): void {
    const id = (node as Entry).id;
    if (id < this.#values.length) this.#values[id] = value;
  }
}
