/**
 * One indexed package as the dependency graph keeps it: its dependencies, the packages that
 * depend on it (the reverse edges), and its place in a topological order. Internal to
 * `src/graph`: the graph owns every node; queries read them through `PackageNode`, the
 * functions below and the graph's methods.
 *
 * The protocol's hot path and memory decide the layout (a million packages must recover
 * within 450 MiB; INDEX and REMOVE of a package must stay O(its dependencies) and cost about
 * what they did before there were reverse edges):
 * - `links` holds its dependencies, as before the reverse edges. The edge to `links[i]` has
 *   a slot, `slots + i`, in one Int32Array per graph (the slot pool): that dependency's
 *   position among its users. 4 bytes per edge plus the blocks' slack (a power of two each).
 * - its dependents are a block of the same pool, from `users` (those that are linked: a
 *   package nothing depends on keeps its edges out of the pool, see DependencyGraph): for
 *   each, its id (a small integer, see `NodeTable`) and the slot of its edge, `[id0, slot0,
 *   id1, slot1, …]`, in the first `2 × linkedUsers` words, doubling when full and halving
 *   when an eighth full.
 *   Removing a dependent moves the last one into its place and writes that one's new
 *   position into its slot: O(1), and one word touched where a position kept in the mover's
 *   own links would be three objects away (its id's entry, its links array, the element),
 *   and no array header to load first: cache misses on the benchmark's REMOVE, whose
 *   dependencies have hundreds of dependents each. Nothing in the pool is a pointer: the
 *   garbage collector never scans it.
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
  /** Its dependencies, each once, in the order indexed. */
  links: Entry[];
  /**
   * Where its edges' slots start in the table's slot pool (see `NodeTable`): the edge to
   * `links[i]` is slot `slots + i`, which holds its position among that dependency's users.
   * 0: no block. Negative: not linked, waiting at place `-1 - slots` of the graph's list of
   * unlinked packages (see DependencyGraph).
   */
  slots: number;
  /**
   * Where its dependents start in the pool: `[id0, slot0, id1, slot1, …]`, the packages that
   * list this one and the slot of each such edge. 0: no block (it never had a dependent).
   */
  users: number;
  /**
   * How many packages depend on it: every edge to it counts, linked into the pool or not (see
   * `DependencyGraph`: a package nothing depends on keeps its own edges out of the pool).
   */
  dependents: number;
  /** How many of its dependents its block in the pool lists: `dependents` once all are linked. */
  linkedUsers: number;
  /** Scratch for searches: equal to the graph's current epoch when visited by the current one. */
  mark: number;
  /** Position in the graph's topological order: every dependency has a smaller `ord`. */
  ord: number;
  /** Its id in the graph's NodeTable: 0 before it is added and once it is dropped. */
  id: number;
}

export function newEntry(name: string, links: Entry[], ord: number): Entry {
  return { name, links, slots: 0, users: 0, dependents: 0, linkedUsers: 0, mark: 0, ord, id: 0 };
}

/** Makes `entry`, removed (id 0), a package again: as `newEntry` made it, with `links` and `ord`. */
export function revive(entry: Entry, links: Entry[], ord: number): void {
  entry.links = links;
  entry.slots = entry.users = entry.dependents = entry.linkedUsers = entry.mark = 0;
  entry.ord = ord;
}

/** How many packages `node` depends on. */
export function dependencyCount(node: PackageNode): number {
  return (node as Entry).links.length;
}

/** The `i`-th dependency of `node`, in the order indexed. */
export function dependencyAt(node: PackageNode, i: number): PackageNode {
  return (node as Entry).links[i]!;
}

/** The packages `node` depends on, in the order indexed (a new array). */
export function dependenciesOf(node: PackageNode): PackageNode[] {
  return (node as Entry).links.slice();
}

/** Smallest block: most packages list a few dependencies. */
const MIN_BLOCK = 2;

/**
 * Blocks of words in one Int32Array: each package's block of edge slots (for each of its
 * dependencies in order, its position among that dependency's users) and its block of
 * dependents. The word before a block holds its capacity (a power of two); a free block
 * holds the next free one of its size in its first word. Blocks are never split or merged:
 * a package keeps its block of slots while its list fits (a re-index that adds one
 * dependency and drops it again touches nothing else), takes a twice-larger one when it
 * outgrows it, and gives both back when removed.
 */
class SlotPool {
  /** Word 0 is never used, so that 0 can mean "no block". */
  #words = new Int32Array(1024);
  #used = 1;
  /** First free block of capacity 2^k, or 0. */
  readonly #free: number[] = [];

  get words(): Int32Array {
    return this.#words;
  }

  /** A block of at least `count` slots (count > 0): its first slot. Its contents are stale. */
  take(count: number): number {
    let k = 0;
    while (MIN_BLOCK << k < count) k++;
    const head = this.#free[k] ?? 0;
    if (head !== 0) {
      this.#free[k] = this.#words[head]!;
      return head;
    }
    const capacity = MIN_BLOCK << k;
    const at = this.#used + 1;
    if (at + capacity > this.#words.length) {
      // Grown by half: a million packages' slots are some tens of MB, and both copies are
      // live while growing (recovery's peak, see the header).
      const words = new Int32Array(Math.max(at + capacity, this.#words.length + (this.#words.length >> 1)));
      words.set(this.#words);
      this.#words = words;
    }
    this.#words[at - 1] = capacity;
    this.#used = at + capacity;
    return at;
  }

  /** Gives back the block starting at `slots` (from `take`). */
  give(slots: number): void {
    const capacity = this.#words[slots - 1]!;
    let k = 0;
    while (MIN_BLOCK << k < capacity) k++;
    this.#words[slots] = this.#free[k] ?? 0;
    this.#free[k] = slots;
  }

  /** How many slots the block at `slots` has (0 for no block). */
  capacity(slots: number): number {
    return slots === 0 ? 0 : this.#words[slots - 1]!;
  }
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
  readonly #pool = new SlotPool();

  /** Gives `entry` an id (one freed earlier, if any). */
  add(entry: Entry): void {
    const id = this.#free.pop() ?? this.byId.length;
    entry.id = id;
    this.byId[id] = entry;
  }

  /**
   * Frees the id and the blocks of `entry`, which has no dependency and no dependent left. Its
   * id becomes 0: a package that is no longer indexed has none (the graph's lookup by key
   * relies on it).
   */
  drop(entry: Entry): void {
    this.byId[entry.id] = undefined;
    this.#free.push(entry.id);
    entry.id = 0;
    if (entry.slots !== 0) this.#pool.give(entry.slots);
    if (entry.users !== 0) this.#pool.give(entry.users);
    entry.slots = entry.users = 0;
  }

  /**
   * The pool's words: edge slots and dependents (see `Entry`). Another array once the pool
   * has grown, which only a change to the graph does.
   */
  get words(): Int32Array {
    return this.#pool.words;
  }

  /**
   * Slots for `count` dependencies of `entry`: its own block when they fit, else a new one
   * whose slots are stale (see `move`); the old one stays valid until `release`.
   */
  reserve(entry: Entry, count: number): number {
    if (count <= this.#pool.capacity(entry.slots)) return entry.slots;
    return this.#pool.take(count);
  }

  /** Gives back a block `reserve` replaced. */
  release(slots: number): void {
    if (slots !== 0) this.#pool.give(slots);
  }

  /** Where `user`'s `i`-th dependency keeps it among its users. */
  positionOf(user: Entry, i: number): number {
    return this.#pool.words[user.slots + i]!;
  }

  /**
   * Makes `dep` the `i`-th dependency of `user` (`user.slots` has room for it) and lists `user`
   * among the dependents in `dep`'s block. The graph counts `dep.dependents` itself.
   */
  link(user: Entry, i: number, dep: Entry): void {
    const n = dep.linkedUsers;
    let users = dep.users;
    // Blocks hold a power of two of words: only then can `2 * n` be the capacity.
    if ((n & (n - 1)) === 0 && 2 * n === this.#pool.capacity(users)) users = this.#resize(dep, n, 4 * n || 2);
    const words = this.#pool.words;
    const slot = user.slots + i;
    words[users + 2 * n] = user.id;
    words[users + 2 * n + 1] = slot;
    dep.linkedUsers = n + 1;
    user.links[i] = dep;
    words[slot] = n;
  }

  /**
   * Keeps the edge to `dep`, which sits `at` among its users, as `user`'s `i`-th dependency
   * (`user.slots` has room for it): a re-index that reorders or moved to a larger block.
   */
  move(user: Entry, i: number, dep: Entry, at: number): void {
    const slot = user.slots + i;
    const words = this.#pool.words;
    user.links[i] = dep;
    words[slot] = at;
    words[dep.users + 2 * at + 1] = slot;
  }

  /**
   * Removes `user` from the block of dependents of its `i`-th dependency (the graph counts
   * `dependents`). The last of the block takes the freed place: only that one's slot changes,
   * one word in the pool, not its entry or its links.
   */
  unlink(user: Entry, i: number): void {
    const dep = user.links[i]!;
    const words = this.#pool.words;
    const at = words[user.slots + i]!;
    const n = dep.linkedUsers - 1;
    const users = dep.users;
    const last = words[users + 2 * n]!;
    const lastSlot = words[users + 2 * n + 1]!;
    dep.linkedUsers = n;
    words[users + 2 * at] = last;
    words[users + 2 * at + 1] = lastSlot;
    words[lastSlot] = at;
    // Looked at when the count is a power of two: the capacity word is not loaded otherwise.
    if (n > 8 && (n & (n - 1)) === 0 && 8 * n < this.#pool.capacity(users)) this.#resize(dep, n, 4 * n);
  }

  /** Moves the `n` dependents of `dep` to a block of `size` words; where it starts. */
  #resize(dep: Entry, n: number, size: number): number {
    const pool = this.#pool;
    const old = dep.users;
    const users = pool.take(size);
    if (old !== 0) {
      pool.words.copyWithin(users, old, old + 2 * n);
      pool.give(old);
    }
    dep.users = users;
    return users;
  }

  /** The `k`-th dependent in `node`'s block (k < its `linkedUsers`). */
  dependentAt(node: PackageNode, k: number): Entry {
    return this.byId[this.#pool.words[(node as Entry).users + 2 * k]!]!;
  }

  /** Problems with `entry`'s links and dependents (verify). */
  check(entry: Entry): string[] {
    const problems: string[] = [];
    const { links, users, linkedUsers, slots } = entry;
    const pool = this.#pool;
    const words = pool.words;
    if (this.byId[entry.id] !== entry) problems.push(`${entry.name} is not under its id ${entry.id}`);
    if (slots < 0) {
      // Not linked: its edges are counted, not in the pool (see DependencyGraph).
    } else if (links.length > pool.capacity(slots))
      problems.push(`${entry.name} lists ${links.length} dependencies in a block of ${pool.capacity(slots)}`);
    else
      for (let i = 0; i < links.length; i++) {
        const dep = links[i]!;
        const at = words[slots + i]!;
        if (!(
          at >= 0 &&
          at < dep.linkedUsers &&
          words[dep.users + 2 * at] === entry.id &&
          words[dep.users + 2 * at + 1] === slots + i
        ))
          problems.push(`${entry.name} is not at ${at} among the dependents of ${dep.name}`);
      }
    if (2 * linkedUsers > pool.capacity(users))
      problems.push(`${entry.name} lists ${linkedUsers} dependents in a block of ${pool.capacity(users)}`);
    else
      for (let k = 0; k < linkedUsers; k++) {
        const user = this.byId[words[users + 2 * k]!];
        const i = words[users + 2 * k + 1]! - (user?.slots ?? 0);
        if (user?.links[i] !== entry || !(i >= 0 && i < user.links.length) || words[user.slots + i] !== k)
          problems.push(`${entry.name}'s dependent ${k} (id ${words[users + 2 * k]}) does not point back`);
      }
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
