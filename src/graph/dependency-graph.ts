/**
 * The dependency index: a directed acyclic graph of packages and the rules that keep it
 * consistent. Pure and synchronous; it knows nothing of sockets or disks.
 *
 * Invariants, checked by `verify()`:
 * - every dependency of an indexed package is indexed; a removed package the map still holds
 *   (see `#entries`) lists none;
 * - each package's dependent count is the number of packages that list it;
 * - a package is *linked* (its edges are listed in its dependencies' blocks of dependents, the
 *   reverse edges) or not; every package something depends on is linked;
 * - every package has a distinct position (`ord`) in a topological order, and every
 *   dependency sits below each linked dependent in it, so there is no cycle and every package
 *   can eventually be removed.
 *
 * A package nothing depends on is added, re-indexed and removed unlinked: its edges are only
 * counted, as before there were reverse edges. Most packages of a repository are such leaves,
 * and most changes are theirs; listing each edge among the dependents of its dependency cost
 * them two to three cache misses per edge. Nothing needs those edges until something depends
 * on the package (it is linked, and given a valid position, at that moment: see `#attach`) or
 * until a query lists dependents (every package waiting is linked then: see `#linkAll`). An
 * unlinked package may sit anywhere in the order: cycle checks walk up through linked
 * dependents only, and none of them can be on a cycle through it.
 *
 * The order is what keeps cycle checks cheap (see topological-order.ts): a re-index whose new
 * dependencies already sit below the package needs no search at all, and a search, when one
 * is needed, stays between the two packages in the order. A long one can be run in slices:
 * `indexWithin()` stops after a budget of work and `resumeIndex()` continues it.
 */
import { createError, type PkgIndexError } from '../errors.js';
import { NodeTable, VisitMarks, newEntry, revive, type Entry, type PackageNode } from './package-node.js';
import { OrderSpace, OrderUpdate, Verdict } from './topological-order.js';
import { SortedNames, type NameSet } from './sorted-names.js';

/**
 * Slots of `#keyed`: 128 KiB of pointers, a few times the names a busy server sees over and
 * over, in sets of two. Set `s` is slots `2s` (the one used last) and `2s + 1`, adjacent,
 * so a lookup that misses the first reads the second from the same cache line.
 */
const KEYED_SLOTS = 16_384;
/** Mask of a set's number: the set of `key` starts at slot `(key & KEYED_SET_MASK) << 1`. */
const KEYED_SET_MASK = KEYED_SLOTS / 2 - 1;

/**
 * The dependencies of every removed package (see `remove`): shared, never written (a removed
 * package's list is neither rewritten nor read by a change).
 */
const NO_LINKS: Entry[] = [];

/**
 * A removed package's `linkedUsers` once it is no longer its name's entry in the map (see
 * `#entries`): a name added again after that gets a new one.
 */
const SWEPT = -1;

/**
 * Removed packages the map may keep, beyond the indexed ones (see `#entries`); past it, each
 * change sweeps SWEEP_STEP of the map's entries.
 */
const SWEEP_SLACK = 1024;
const SWEEP_STEP = 64;

/** What `index()` did. Mutating outcomes are the ones a durable store must log. */
export const IndexOutcome = {
  ADDED: 'added',
  REPLACED: 'replaced',
  UNCHANGED: 'unchanged',
  MISSING_DEPENDENCY: 'missing-dependency',
  CYCLE: 'cycle',
} as const;
export type IndexOutcome = (typeof IndexOutcome)[keyof typeof IndexOutcome];

/** `indexWithin()` or `resumeIndex()` used up its budget: call `resumeIndex()` again. */
export const INDEX_PENDING = 'pending';
export type IndexProgress = IndexOutcome | typeof INDEX_PENDING;

/** What `remove()` did. */
export const RemoveOutcome = { REMOVED: 'removed', ABSENT: 'absent', REQUIRED: 'required' } as const;
export type RemoveOutcome = (typeof RemoveOutcome)[keyof typeof RemoveOutcome];

/**
 * The dependency list a change took from a package (see `DependencyGraph.dropped`): opaque,
 * read with `droppedNames()`. The graph never writes to it again.
 */
export type DroppedList = readonly unknown[] & { readonly __dropped: unique symbol };

/**
 * Where a graph may put the lists its changes rewrite in place (see `keepDropped`), instead of
 * copying each into an array of its own: the disk store's undo log, which copies the elements
 * into one ring it reuses (an array a replacement was 16 bytes a reply of the durable
 * mutation load's allocation, and most of what its collections had to keep alive).
 */
export interface DroppedSink {
  /**
   * Keeps a copy of `list`, which the graph is about to rewrite: the change's `dropped` is
   * then KEPT_BY_SINK, which the sink takes as "the list I was last given".
   */
  keep(list: readonly unknown[]): void;
}

/** What `dropped` is when the list went to the graph's sink (see DroppedSink). */
export const KEPT_BY_SINK = Object.freeze([]) as unknown as DroppedList;

/** The names of a list `dropped` handed back, in their order. */
export function droppedNames(list: DroppedList): string[] {
  const names: string[] = [];
  for (let i = 0; i < list.length; i++) names.push((list[i] as Entry).name);
  return names;
}

export interface GraphStats {
  readonly packages: number;
  readonly edges: number;
}

/** A re-index whose cycle check has not finished: the graph is unchanged until it does. */
interface PendingIndex {
  readonly entry: Entry;
  /** The new dependency list, resolved. */
  readonly deps: Entry[];
}

export class DependencyGraph {
  /**
   * Each name's package: indexed (`id` not 0) or removed. A removed package stays its name's
   * entry, so that adding the name again revives it (`revive`) instead of creating another:
   * the benchmark's mutations remove and add back the same leaves, and the map's `delete` and
   * `set` were, after the keyed lookups, the first to read each name's string (its hash), a
   * chain of cache misses each (docs/performance.md, recommendation 7). A removed package
   * keeps no dependencies. Removed ones are swept out once they outnumber the indexed ones by
   * SWEEP_SLACK (`#sweep`), so the map holds at most about twice what is indexed.
   */
  readonly #entries = new Map<string, Entry>();
  /** Packages indexed: the map's entries less the removed ones. */
  #count = 0;
  /** Removed packages still in the map. */
  #removed = 0;
  /** Where `#sweep` goes on from, or null to start again from the map's first entry. */
  #sweeper: Iterator<Entry> | null = null;
  /**
   * Packages by key (the parser's hash of the name, see IndexCommand's `keys`), a two-way set
   * associative cache in front of `#entries`: the set of `key` holds the two packages last
   * found or added under its keys, the one used last first (see KEYED_SLOTS). Replaying the
   * benchmark's mixed script through the graph, 10.9 % of the lookups went on to the `Map`
   * with one slot per key (7.2 % because two names shared a slot, 3.7 % for names not
   * indexed), 5.3 % with sets of two. A hit is the name's entry in the map, indexed or
   * removed (see `#entries`), when its name is the string looked up (by identity mostly, as
   * both come from the parser's name cache) and it was not swept out of the map since. Found
   * so, a name's string is never read: V8's `Map` reads its hash field first, a cache miss at
   * the head of a chain of dependent loads (string, bucket, entry, package), and its lookups
   * were the mutation load's largest cost against 18b07b4 (docs/benchmarks.md, stop 31).
   */
  readonly #keyed: (Entry | undefined)[] = new Array<Entry | undefined>(KEYED_SLOTS).fill(undefined);
  #edges = 0;
  #roots = 0;
  #held = 0;
  #version = 0;
  readonly #order = new OrderSpace();
  readonly #table = new NodeTable();
  readonly #visits = new VisitMarks(this.#table);
  readonly #update = new OrderUpdate(this.#order, this.#table);
  /** Scratch for `index()`; its slots past the current count hold stale entries, never read. */
  readonly #resolved: Entry[] = [];
  #pending: PendingIndex | null = null;
  /**
   * The packages waiting unlinked, each exactly once: one that waits keeps its place here in
   * its `slots`, as `-1 - place` (it has no block), so leaving the list is a move of the last
   * one into its place. A list of every package ever left unlinked, filtered from time to
   * time, cost more in the filter's reads (a cache miss or more per package) than it saved.
   */
  readonly #unlinked: Entry[] = [];
  #lastWork = 0;
  #names: SortedNames | null = null;
  /** Keep what each change drops (see `keepDropped`). */
  #keepsDropped = false;
  #sink: DroppedSink | null = null;
  #dropped: DroppedList | null = null;

  get size(): number {
    return this.#count;
  }

  /** Number of dependency edges (distinct package → dependency pairs). */
  get edgeCount(): number {
    return this.#edges;
  }

  /** Packages with no dependencies. */
  get rootCount(): number {
    return this.#roots;
  }

  /** Packages nothing depends on. */
  get leafCount(): number {
    return this.#count - this.#held;
  }

  /** Removed packages the map still holds (see `#entries`): at most about SWEEP_SLACK more than `size`. */
  get removedHeld(): number {
    return this.#removed;
  }

  /** Bumped by every change (a package added, re-indexed with another list, or removed). */
  get version(): number {
    return this.#version;
  }

  stats(): GraphStats {
    return { packages: this.#count, edges: this.#edges };
  }

  /** Whether `name` is indexed; `key`, when known, is its key (see IndexCommand). */
  has(name: string, key?: number): boolean {
    if (key === undefined) return this.#get(name) !== undefined;
    const entry = this.#find(name, key);
    return entry !== undefined && entry.id !== 0;
  }

  /** The package named `name` if indexed. */
  #get(name: string): Entry | undefined {
    const entry = this.#entries.get(name);
    return entry !== undefined && entry.id !== 0 ? entry : undefined;
  }

  /**
   * The map's entry of `name`, indexed or removed (see `#entries`), looked up by `key` first
   * (see `#keyed`).
   */
  #find(name: string, key: number): Entry | undefined {
    const keyed = this.#keyed;
    const slot = (key & KEYED_SET_MASK) << 1;
    const first = keyed[slot];
    if (first !== undefined && first.name === name && first.linkedUsers !== SWEPT) return first;
    const second = keyed[slot + 1];
    if (second !== undefined && second.name === name && second.linkedUsers !== SWEPT) {
      // The one used last goes first: of a set's two, the other makes room for a third name.
      this.#keep(second, key);
      return second;
    }
    const entry = this.#entries.get(name);
    if (entry !== undefined) this.#keep(entry, key);
    return entry;
  }

  /**
   * Puts `entry`, found or added under `key`, first in its set of `#keyed`; the package that
   * was first becomes second (when `entry` was second already, the two swap).
   */
  #keep(entry: Entry, key: number): void {
    const keyed = this.#keyed;
    const slot = (key & KEYED_SET_MASK) << 1;
    keyed[slot + 1] = keyed[slot];
    keyed[slot] = entry;
  }

  /** The dependencies of `name`, or undefined when not indexed. */
  dependenciesOf(name: string): readonly string[] | undefined {
    const entry = this.#get(name);
    return entry === undefined ? undefined : namesOf(entry);
  }

  /** How many indexed packages depend on `name` (0 when not indexed). */
  dependentCount(name: string): number {
    return this.#get(name)?.dependents ?? 0;
  }

  /** The package named `name`, for queries (see queries.ts), or undefined. */
  node(name: string): PackageNode | undefined {
    return this.#get(name);
  }

  /** Every package, in no particular order. */
  nodes(): Generator<PackageNode, void, undefined> {
    return this.#indexed();
  }

  /** The map's packages that are indexed (see `#entries`), in its order. */
  *#indexed(): Generator<Entry, void, undefined> {
    for (const entry of this.#entries.values()) if (entry.id !== 0) yield entry;
  }

  /** The packages that depend on `node` (one of this graph's), in no particular order, lazily. */
  *dependents(node: PackageNode): Generator<PackageNode, void, undefined> {
    for (let k = 0; k < node.dependents; k++) yield this.dependentAt(node, k);
  }

  /**
   * Marks for one synchronous walk of a query (see VisitMarks); `begin()` them first. Shared:
   * a walk that spans several calls takes `newVisitMarks()`.
   */
  visitMarks(): VisitMarks {
    return this.#visits;
  }

  /** Marks of its own, for a walk that goes on across calls (see ClosureWalker). */
  newVisitMarks(): VisitMarks {
    return new VisitMarks(this.#table);
  }

  /**
   * Links every package waiting unlinked (see the header): from then on, until the next
   * change, every package sits above all its dependencies in the order. For the queries that
   * read positions (why.ts, graph-survey.ts); those that list dependents need not call it.
   */
  linkWaiting(): void {
    if (this.#unlinked.length > 0) this.#linkAll();
  }

  /** The `k`-th package that depends on `node` (k < node.dependents), in no particular order. */
  dependentAt(node: PackageNode, k: number): PackageNode {
    this.linkWaiting();
    return this.#table.dependentAt(node, k);
  }

  /** Calls `visit` with each package that depends on `node`, until it returns false. */
  forEachDependent(node: PackageNode, visit: (user: PackageNode) => unknown): void {
    this.linkWaiting();
    const table = this.#table;
    for (let k = 0; k < node.dependents; k++) if (visit(table.dependentAt(node, k)) === false) return;
  }

  /**
   * The names in bytewise order, for paginated listing. Kept only once asked for: from then
   * on, each added package costs one array push (see sorted-names.ts).
   */
  sortedNames(): SortedNames {
    this.#names ??= new SortedNames(new IndexedNames(this));
    return this.#names;
  }

  /**
   * From now on, each change hands back the dependency list it takes from its package, read
   * with `dropped` right after the call: for a store that must be able to undo it (the disk
   * store's undo log). A removal hands back the removed package's own list, which nothing
   * uses any more; a replacement rewrites the list in place, so it copies the old one, once
   * it is known to change: into an array of its own, or with `sink`, into the sink (and then
   * `dropped` is KEPT_BY_SINK). Off by default: the memory store has nothing to undo.
   */
  keepDropped(sink: DroppedSink | null = null): void {
    this.#keepsDropped = true;
    this.#sink = sink;
  }

  /**
   * What the last `index()`, `indexWithin()`, `resumeIndex()` or `remove()` that changed the
   * graph took from its package: the list it replaced or removed, or null when it added the
   * package. Read only right after a call that changed the graph (with `keepDropped()` on).
   */
  get dropped(): DroppedList | null {
    return this.#dropped;
  }

  /** True while a re-index started by `indexWithin()` waits for `resumeIndex()`. */
  get pending(): boolean {
    return this.#pending !== null;
  }

  /** Units of cycle-check work (packages and edges visited, packages moved) of the last call. */
  get lastWork(): number {
    return this.#lastWork;
  }

  /**
   * Indexes `name` with exactly `deps` (duplicates count once), or replaces the dependency
   * list of an indexed package. Nothing changes unless every dependency is indexed and the
   * new edges create no cycle. Runs the cycle check to its end, however long.
   */
  index(name: string, deps: readonly string[], keys?: readonly number[]): IndexOutcome {
    return this.#index(name, deps, Infinity, keys) as IndexOutcome;
  }

  /**
   * `index()` that stops after about `budget` units of cycle-check work and returns
   * INDEX_PENDING; `resumeIndex()` then continues it. Until it ends (or `cancelIndex()`),
   * the graph is unchanged and refuses other changes (`E_GRAPH_BUSY`); reads are fine.
   * Work is bounded by the affected region: the packages between `name` and its new
   * dependencies in the topological order, with their edges (see topological-order.ts).
   */
  indexWithin(
    name: string,
    deps: readonly string[],
    budget: number,
    keys?: readonly number[],
  ): IndexProgress {
    return this.#index(name, deps, budget, keys);
  }

  /** Continues the pending re-index for about `budget` more units. */
  resumeIndex(budget: number): IndexProgress {
    const pending = this.#pending;
    if (pending === null) throw createError('E_GRAPH_IDLE', 'resumeIndex(): no re-index is pending');
    return this.#check(pending.entry, pending.deps, pending.deps.length, budget);
  }

  /** Abandons the pending re-index: the package keeps its previous dependencies. */
  cancelIndex(): void {
    if (this.#pending !== null) this.#update.cancel();
    this.#pending = null;
  }

  #index(name: string, deps: readonly string[], budget: number, keys?: readonly number[]): IndexProgress {
    if (this.#pending !== null) throw busy('index');
    this.#lastWork = 0;
    if (this.#order.crowded || this.#order.marksWorn) this.#maintain();
    // Resolved into a scratch array: most INDEX lines either fail or replace a list in place,
    // and neither needs a new array. An array kept by an entry outlives the young generation,
    // so every one allocated here is paid again by the garbage collector.
    const resolved = this.#resolved;
    let count = 0;
    const order = this.#order;
    const epoch = ++order.epoch;
    const entries = this.#entries;
    const keyed = keys !== undefined && keys.length === deps.length + 1;
    const existing = keyed ? this.#find(name, keys[0]!) : entries.get(name);
    // A re-indexed package mostly lists the dependencies it had, in the same order (a client
    // re-sends its line, or adds one at the end): the entry already holds them, so a name
    // equal to the one at the same position needs no lookup in the map.
    const had = existing?.links;
    // How many leading dependencies are the entry's own, in place: a re-index leaves them be.
    let prefix = 0;
    for (let i = 0; i < deps.length; i++) {
      const depName = deps[i]!;
      let dep: Entry | undefined;
      if (had !== undefined && i < had.length && had[i]!.name === depName) {
        dep = had[i]!;
        if (prefix === i) prefix++;
      } else {
        dep = keyed ? this.#find(depName, keys[i + 1]!) : entries.get(depName);
        if (dep === undefined || dep.id === 0) return IndexOutcome.MISSING_DEPENDENCY;
      }
      if (dep.mark !== epoch) {
        dep.mark = epoch;
        resolved[count++] = dep;
      }
    }
    if (existing === undefined || existing.id === 0) {
      // A package not yet indexed has no dependents, so its edges cannot close a cycle. It is
      // added unlinked (see the header); above everything in the order, it is above its
      // dependencies anyway (positioned after them: linking one may move it).
      for (let i = 0; i < count; i++) this.#depend(resolved[i]!);
      let entry: Entry;
      if (existing === undefined) {
        entry = newEntry(name, resolved.slice(0, count), order.top++);
        entries.set(name, entry);
        if (keyed) this.#keep(entry, keys[0]!);
      } else {
        // Removed earlier and still its name's entry (see `#entries`): no change to the map.
        entry = existing;
        revive(entry, resolved.slice(0, count), order.top++);
        this.#removed--;
      }
      this.#table.add(entry);
      this.#count++;
      this.#edges += count;
      if (count === 0) this.#roots++;
      else this.#waitUnlinked(entry);
      if (this.#names !== null && !this.#names.added(name)) this.#names = null;
      this.#version++;
      this.#dropped = null;
      return IndexOutcome.ADDED;
    }
    // Dependencies kept from the old list get a second mark; those still marked `epoch` are new.
    const kept = ++order.epoch;
    const links = existing.links;
    let keptCount = 0;
    for (let i = 0; i < links.length; i++) {
      const dep = links[i]!;
      if (dep.mark === epoch) {
        dep.mark = kept;
        keptCount++;
      }
    }
    if (keptCount === count && links.length === count) return IndexOutcome.UNCHANGED;
    // `existing` is marked only if it lists itself.
    if (existing.mark === epoch) return IndexOutcome.CYCLE;
    let below = true;
    for (let i = 0; i < count; i++) {
      const dep = resolved[i]!;
      if (dep.mark !== epoch) continue;
      // A new dependency nothing depended on is linked first, with a valid position: a path
      // from it back to `existing` would otherwise be invisible to the check.
      if (dep.slots < 0) this.#attach(dep);
      if (dep.ord > existing.ord) below = false;
    }
    if (!below) {
      // Nothing linked depends on it: no path comes back to it, and its place is free.
      if (existing.linkedUsers === 0) existing.ord = order.top++;
      else {
        this.#update.start(existing, resolved, count, epoch);
        return this.#check(existing, resolved, count, budget);
      }
    }
    if (existing.dependents === 0 && existing.slots <= 0)
      this.#commitUnlinked(existing, resolved, count, kept);
    else this.#commit(existing, resolved, count, epoch, kept, prefix);
    return IndexOutcome.REPLACED;
  }

  /** Runs the cycle check of a re-index to `deps[0, count)`; commits it when it finds no cycle. */
  #check(entry: Entry, deps: Entry[], count: number, budget: number): IndexProgress {
    const update = this.#update;
    const before = update.work;
    const verdict = update.run(budget);
    this.#lastWork = update.work - before;
    if (verdict === Verdict.PENDING) {
      this.#pending ??= { entry, deps: deps.slice(0, count) };
      return INDEX_PENDING;
    }
    this.#pending = null;
    if (verdict === Verdict.CYCLE) return IndexOutcome.CYCLE;
    // The searches overwrote marks: mark the new and the kept dependencies again.
    const order = this.#order;
    const epoch = ++order.epoch;
    for (let i = 0; i < count; i++) deps[i]!.mark = epoch;
    const kept = ++order.epoch;
    const links = entry.links;
    for (let i = 0; i < links.length; i++) if (links[i]!.mark === epoch) links[i]!.mark = kept;
    this.#commit(entry, deps, count, epoch, kept, 0);
    return IndexOutcome.REPLACED;
  }

  /**
   * Gives `entry` the dependencies `resolved[0, count)`: those marked `added` are new, those of
   * its current list not marked `kept` are dropped. Rewrites its links in place. The first
   * `prefix` are its links already, in place (the benchmark's re-index appends a dependency to
   * the list or drops the last): while the block stays, nothing of theirs changes, not even a
   * mark, so neither loop visits them.
   */
  #commit(
    entry: Entry,
    resolved: readonly Entry[],
    count: number,
    added: number,
    kept: number,
    prefix: number,
  ): void {
    const links = entry.links;
    if (this.#keepsDropped) this.#dropped = this.#dropList(links);
    const table = this.#table;
    const had = links.length;
    // Before the unlinks, which read the old block: a new one leaves it as it is until `release`.
    const old = entry.slots;
    const slots = table.reserve(entry, count);
    const start = slots === old ? prefix : 0;
    for (let i = start; i < had; i++) {
      const dep = links[i]!;
      // A kept dependency keeps `entry` where it is among its users: that position waits in
      // its mark (negative: no epoch is) until the links are rewritten below.
      if (dep.mark === kept) dep.mark = -1 - table.positionOf(entry, i);
      else {
        table.unlink(entry, i);
        this.#undepend(dep);
      }
    }
    this.#recount(had, count);
    entry.slots = slots;
    for (let i = start; i < count; i++) {
      const dep = resolved[i]!;
      if (dep.mark === added) {
        this.#depend(dep);
        table.link(entry, i, dep);
      } else {
        // Still at the same place in the same block (a re-index mostly repeats the list, or
        // appends to it): its slot already holds its position, and its users already name
        // that slot. Not touching its users array saves a cache miss per kept dependency.
        if (links[i] !== dep || slots !== old) table.move(entry, i, dep, -1 - dep.mark);
        dep.mark = kept;
      }
    }
    if (slots !== old) table.release(old);
    // pop() is inlined where the length setter is a call into the runtime.
    while (links.length > count) links.pop();
    this.#version++;
  }

  /**
   * `#commit` for a package nothing depends on and that is not linked (or has no dependency):
   * only counts change; it stays unlinked, or has nothing to link once its list is empty.
   */
  #commitUnlinked(entry: Entry, resolved: readonly Entry[], count: number, kept: number): void {
    const links = entry.links;
    if (this.#keepsDropped) this.#dropped = this.#dropList(links);
    const had = links.length;
    for (let i = 0; i < had; i++) {
      const dep = links[i]!;
      if (dep.mark !== kept) this.#undepend(dep);
    }
    for (let i = 0; i < count; i++) {
      const dep = resolved[i]!;
      if (dep.mark !== kept) this.#depend(dep);
      links[i] = dep;
    }
    // pop() is inlined where the length setter is a call into the runtime.
    while (links.length > count) links.pop();
    this.#recount(had, count);
    if (had === 0) this.#waitUnlinked(entry);
    else if (count === 0) this.#unwait(entry);
    this.#version++;
  }

  /** What a replacement hands back of `links`, which it is about to rewrite (see keepDropped). */
  #dropList(links: Entry[]): DroppedList {
    if (this.#sink === null) return links.slice() as unknown as DroppedList;
    this.#sink.keep(links);
    return KEPT_BY_SINK;
  }

  /** A package's list went from `had` dependencies to `count`: the edge and root counts follow. */
  #recount(had: number, count: number): void {
    if (had === 0) this.#roots--;
    if (count === 0) this.#roots++;
    this.#edges += count - had;
  }

  /** Counts a new edge to `dep`; its first dependent links it (see `#attach`). */
  #depend(dep: Entry): void {
    if (dep.dependents === 0) {
      this.#held++;
      if (dep.slots < 0) this.#attach(dep);
    }
    dep.dependents++;
  }

  #undepend(dep: Entry): void {
    if (--dep.dependents === 0) this.#held--;
  }

  /**
   * Links a package that was not: lists it among the dependents of each of its dependencies
   * and, since nothing linked kept it in order while it was not, moves it above everything if
   * one of them now sits above it. It has no linked dependent, so nothing else moves.
   */
  #attach(entry: Entry): void {
    this.#unwait(entry);
    const table = this.#table;
    const links = entry.links;
    entry.slots = table.reserve(entry, links.length);
    let above = false;
    for (let i = 0; i < links.length; i++) {
      const dep = links[i]!;
      table.link(entry, i, dep);
      if (dep.ord > entry.ord) above = true;
    }
    if (above) entry.ord = this.#order.top++;
  }

  /** Counts `entry` among the unlinked (it has a dependency, no block, nothing depends on it). */
  #waitUnlinked(entry: Entry): void {
    entry.slots = -1 - this.#unlinked.length;
    this.#unlinked.push(entry);
  }

  /** Takes `entry`, which waits unlinked, off the list: it has no block (`slots` 0) for now. */
  #unwait(entry: Entry): void {
    const list = this.#unlinked;
    const at = -1 - entry.slots;
    const last = list.pop()!;
    if (last !== entry) {
      list[at] = last;
      last.slots = entry.slots;
    }
    entry.slots = 0;
  }

  /** Links every package that waits unlinked: dependents are listed from here on. */
  #linkAll(): void {
    const list = this.#unlinked;
    while (list.length > 0) this.#attach(list[list.length - 1]!);
  }

  /** Removes `name` unless another indexed package depends on it. */
  remove(name: string, key?: number): RemoveOutcome {
    if (this.#pending !== null) throw busy('remove');
    const entry = key === undefined ? this.#entries.get(name) : this.#find(name, key);
    if (entry === undefined || entry.id === 0) return RemoveOutcome.ABSENT;
    if (entry.dependents > 0) return RemoveOutcome.REQUIRED;
    const links = entry.links;
    const had = links.length;
    const table = this.#table;
    if (entry.slots < 0) {
      for (let i = 0; i < had; i++) this.#undepend(links[i]!);
      this.#unwait(entry);
    } else
      for (let i = 0; i < had; i++) {
        table.unlink(entry, i);
        this.#undepend(links[i]!);
      }
    table.drop(entry);
    this.#edges -= had;
    if (had === 0) this.#roots--;
    this.#count--;
    this.#removed++;
    this.#names?.removed();
    this.#version++;
    // The removed entry's links: nothing links to it or rewrites them any more.
    if (this.#keepsDropped) this.#dropped = entry.links as unknown as DroppedList;
    // It stays its name's entry in the map (see `#entries`), without its dependencies, which
    // may be removed after it, and theirs in turn.
    entry.links = NO_LINKS;
    if (this.#removed > this.#count + SWEEP_SLACK) this.#sweep();
    return RemoveOutcome.REMOVED;
  }

  /**
   * Takes removed packages out of the map, SWEEP_STEP entries at a time, from where the last
   * sweep stopped: called by each removal while they outnumber the indexed packages by more
   * than SWEEP_SLACK, it keeps them below about that (each removal adds one and looks at
   * SWEEP_STEP), at a bounded cost per removal. A package swept out stays removed; one in
   * `#keyed` is no longer its name's entry there either (SWEPT).
   */
  #sweep(): void {
    const entries = this.#entries;
    for (let step = 0; step < SWEEP_STEP; step++) {
      this.#sweeper ??= entries.values();
      const next = this.#sweeper.next();
      if (next.done === true) {
        this.#sweeper = null;
        continue;
      }
      const entry = next.value;
      if (entry.id !== 0) continue;
      entries.delete(entry.name);
      entry.linkedUsers = SWEPT;
      this.#removed--;
    }
  }

  /**
   * Keeps positions and marks small integers (see OrderSpace): clears the marks, O(n), once
   * per some 2^29 INDEX lines; gives every package a position from 0 up, in the current order,
   * O(n log n), once per some 2^30 positions handed out (one per package added or moved).
   */
  #maintain(): void {
    const order = this.#order;
    if (order.crowded) {
      const all = [...this.#indexed()].sort((a, b) => a.ord - b.ord);
      for (let i = 0; i < all.length; i++) all[i]!.ord = i;
      order.top = all.length;
      order.bottom = -1;
    }
    if (order.marksWorn) {
      for (const entry of this.#entries.values()) entry.mark = 0;
      order.epoch = 0;
    }
  }

  /** Every package with its dependencies, dependencies always before their dependents. */
  *topological(): Generator<[name: string, deps: readonly string[]]> {
    if (this.#pending !== null) throw busy('topological');
    const epoch = ++this.#order.epoch;
    const stack: [Entry, number][] = [];
    for (const root of this.#indexed()) {
      if (root.mark === epoch) continue;
      root.mark = epoch;
      stack.push([root, 0]);
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const [entry, i] = top;
        if (i < entry.links.length) {
          top[1] = i + 1;
          const dep = entry.links[i]!;
          if (dep.mark !== epoch) {
            dep.mark = epoch;
            stack.push([dep, 0]);
          }
        } else {
          stack.pop();
          yield [entry.name, namesOf(entry)];
        }
      }
    }
  }

  /** Every package and its dependencies, in no particular order. */
  *entries(): Generator<[name: string, deps: readonly string[]]> {
    for (const entry of this.#indexed()) yield [entry.name, namesOf(entry)];
  }

  /**
   * Checks every invariant from scratch. Returns a list of violations, empty when consistent.
   * O(packages log packages + edges), with one array of a number per package as extra memory;
   * meant for recovery and tests, not the hot path.
   */
  verify(): string[] {
    if (this.#pending !== null) return ['a re-index is pending; verify once it has ended'];
    const problems: string[] = [];
    const entries = this.#entries;
    const order = this.#order;
    const positions = new Float64Array(this.#count);
    let edges = 0;
    let users = 0;
    let roots = 0;
    let held = 0;
    let k = 0;
    let linkedEdges = 0;
    let listed = 0;
    let waiting = 0;
    // How many packages list each one, by id.
    const listing = new Int32Array(this.#table.byId.length);
    let removed = 0;
    for (const entry of entries.values()) {
      if (entry.id === 0) {
        removed++;
        if (entry.links.length !== 0 || entry.linkedUsers === SWEPT)
          problems.push(`${entry.name}, removed, keeps dependencies or is marked swept in the map`);
        continue;
      }
      const deps = entry.links;
      const n = deps.length;
      if (hasDuplicate(deps)) problems.push(`${entry.name} lists a dependency twice`);
      edges += n;
      if (n === 0) roots++;
      positions[k++] = entry.ord;
      if (!(entry.ord < order.top && entry.ord > order.bottom))
        problems.push(`${entry.name} is at ${entry.ord}, outside (${order.bottom}, ${order.top})`);
      const linked = entry.slots >= 0;
      if (entry.slots === 0 && n > 0)
        problems.push(`${entry.name} has dependencies but neither a block nor a place among the unlinked`);
      if (linked) linkedEdges += n;
      else {
        waiting++;
        if (entry.dependents > 0) problems.push(`${entry.name} has dependents but is not linked`);
      }
      for (const dep of deps) {
        if (entries.get(dep.name) !== dep || dep.id === 0)
          problems.push(`${entry.name} depends on unindexed ${dep.name}`);
        else listing[dep.id]!++;
        if (linked && !(dep.ord < entry.ord))
          problems.push(
            `${entry.name} (at ${entry.ord}) is not above its dependency ${dep.name} (at ${dep.ord})`,
          );
      }
      problems.push(...this.#table.check(entry));
      users += entry.dependents;
      listed += entry.linkedUsers;
      if (entry.dependents > 0) held++;
    }
    if (k !== this.#count || removed !== this.#removed)
      problems.push(`${this.#count} packages and ${this.#removed} removed counted, ${k} and ${removed} are`);
    for (const entry of entries.values())
      if (entry.id !== 0 && listing[entry.id] !== entry.dependents)
        problems.push(`${entry.name} counts ${entry.dependents} dependents, ${listing[entry.id]} list it`);
    // Every linked edge was found at its place among its dependency's dependents, so equal
    // totals leave no room for a listed dependent that does not depend.
    if (listed !== linkedEdges) problems.push(`${listed} dependents listed for ${linkedEdges} linked edges`);
    if (waiting !== this.#unlinked.length)
      problems.push(`${this.#unlinked.length} packages listed as unlinked, ${waiting} are`);
    this.#unlinked.forEach((entry, i) => {
      if (entry.slots !== -1 - i || entries.get(entry.name) !== entry || entry.id === 0)
        problems.push(`${entry.name} is not at its place ${i} among the unlinked, or not indexed`);
    });
    if (edges !== this.#edges) problems.push(`edge count is ${this.#edges}, counted ${edges}`);
    if (users !== edges) problems.push(`${users} dependents recorded for ${edges} edges`);
    if (roots !== this.#roots) problems.push(`root count is ${this.#roots}, counted ${roots}`);
    if (held !== this.#held) problems.push(`${this.#held} packages counted as depended on, ${held} are`);
    positions.sort();
    for (let i = 1; i < positions.length; i++)
      if (positions[i] === positions[i - 1]) problems.push(`two packages share position ${positions[i]}`);
    if (this.#names !== null) problems.push(...this.#names.verify());
    return problems;
  }
}

/** A graph's names, as SortedNames reads them. */
class IndexedNames implements NameSet {
  readonly #graph: DependencyGraph;

  constructor(graph: DependencyGraph) {
    this.#graph = graph;
  }

  get size(): number {
    return this.#graph.size;
  }

  has(name: string): boolean {
    return this.#graph.has(name);
  }

  *keys(): Generator<string, void, undefined> {
    for (const node of this.#graph.nodes()) yield node.name;
  }
}

function namesOf(entry: Entry): string[] {
  const links = entry.links;
  const names: string[] = [];
  for (let i = 0; i < links.length; i++) names.push(links[i]!.name);
  return names;
}

function hasDuplicate(items: readonly unknown[]): boolean {
  if (items.length > 16) return new Set(items).size !== items.length;
  for (let i = 1; i < items.length; i++) if (items.lastIndexOf(items[i], i - 1) !== -1) return true;
  return false;
}

function busy(what: string): PkgIndexError {
  return createError(
    'E_GRAPH_BUSY',
    `${what}(): a re-index is pending; finish it with resumeIndex() or drop it with cancelIndex() first`,
  );
}
