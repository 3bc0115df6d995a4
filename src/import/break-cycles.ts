/**
 * Breaking a dependency cycle for `import --break-cycles`: which dependencies of one strongly
 * connected component to drop so that what remains is acyclic, and the order that then works.
 *
 * The fewest such edges (a minimum feedback arc set) is NP-hard to find, so this uses the greedy
 * heuristic of Eades, Lin and Smyth ("A fast and effective heuristic for the feedback arc set
 * problem", IPL 47, 1993): it builds a linear order of the packages and drops the edges that
 * point the wrong way, never more than half of them, in O(edges · log packages). Taking the
 * packages from the ends, it repeatedly
 *
 * 1. puts a package with no remaining dependencies in the component next at the front of the
 *    plan (nothing to drop);
 * 2. else puts a package no remaining package depends on next at the back (nothing to drop);
 * 3. else puts at the back the package with the most remaining dependencies minus remaining
 *    dependents, and drops the dependencies of the remaining packages on it. Ties go to the
 *    package with the fewest dependents in the whole source, then to the first name: a package
 *    that much of the repository depends on is foundational, so it should come early and keep
 *    its place under its dependents, and give up its own dependency on the less-used package.
 *    In Debian this drops `libc6` → `libgcc-s1` and keeps `libgcc-s1` → `libc6`.
 *
 * A package's dependency on itself is always dropped. The result depends only on the names and
 * edges, not on the order of the source.
 */

/** One cyclic component, in the caller's numbering. */
export interface CyclicComponent {
  /** The component's packages. */
  readonly members: readonly number[];
  readonly nameOf: (node: number) => string;
  /** Distinct dependencies of `node` (any, the caller's numbering; those outside are ignored). */
  readonly depsOf: (node: number) => Iterable<number>;
  /** How many packages of the whole source depend on `node`. */
  readonly dependentsOf: (node: number) => number;
}

export interface BrokenComponent {
  /** The members, every one after all of its remaining in-component dependencies. */
  readonly order: readonly number[];
  /** The dropped dependencies, `[from, to]`: `from` no longer depends on `to`. */
  readonly dropped: readonly (readonly [from: number, to: number])[];
}

/** Chooses the dependencies to drop from one cyclic component, as the module comment says. */
export function breakComponent(component: CyclicComponent): BrokenComponent {
  const { nameOf } = component;
  // Local numbering by name, so the result does not depend on the order of the source.
  const members = [...component.members].sort((a, b) => compareNames(nameOf(a), nameOf(b)));
  const n = members.length;
  const local = new Map<number, number>(members.map((node, i) => [node, i]));
  const deps: number[][] = [];
  const dependents: number[][] = members.map(() => []);
  const dropped: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const mine: number[] = [];
    for (const dep of component.depsOf(members[i]!)) {
      const j = local.get(dep);
      if (j === undefined) continue;
      if (j === i) dropped.push([members[i]!, members[i]!]);
      else mine.push(j);
    }
    mine.sort((a, b) => a - b);
    deps.push(mine);
    for (const j of mine) dependents[j]!.push(i);
  }
  const outside = members.map((node) => component.dependentsOf(node));

  const depCount = Int32Array.from(deps, (d) => d.length);
  const dependentCount = Int32Array.from(dependents, (d) => d.length);
  const removed = new Uint8Array(n);
  const front: number[] = []; // the plan's beginning, in order
  const back: number[] = []; // the plan's end, in reverse order
  // Packages that may have become free of dependencies or of dependents; checked when taken.
  const noDeps: number[] = [];
  const noDependents: number[] = [];
  // Max-heap on (dependencies − dependents, then fewer dependents outside, then name);
  // entries go stale as counts change and are skipped when their score no longer matches.
  const score = (i: number): number => depCount[i]! - dependentCount[i]!;
  const heap = new Heap<readonly [number, number]>(([a, sa], [b, sb]) =>
    sa !== sb ? sa > sb : outside[a]! !== outside[b]! ? outside[a]! < outside[b]! : a < b,
  );

  const take = (i: number): void => {
    removed[i] = 1;
    for (const j of deps[i]!)
      if (removed[j] === 0 && --dependentCount[j]! === 0) noDependents.push(j);
      else if (removed[j] === 0) heap.push([j, score(j)]);
    for (const j of dependents[i]!)
      if (removed[j] === 0 && --depCount[j]! === 0) noDeps.push(j);
      else if (removed[j] === 0) heap.push([j, score(j)]);
  };

  for (let i = 0; i < n; i++) {
    if (depCount[i] === 0) noDeps.push(i);
    else if (dependentCount[i] === 0) noDependents.push(i);
    heap.push([i, score(i)]);
  }
  let left = n;
  while (left > 0) {
    const free = noDeps.pop() ?? null;
    if (free !== null) {
      if (removed[free] === 0) {
        front.push(free);
        take(free);
        left--;
      }
      continue;
    }
    const top = noDependents.pop() ?? null;
    if (top !== null) {
      if (removed[top] === 0) {
        back.push(top);
        take(top);
        left--;
      }
      continue;
    }
    const [best, s] = heap.pop()!;
    if (removed[best] === 1 || s !== score(best)) continue;
    // Every remaining package that depends on `best` gives that dependency up.
    for (const j of dependents[best]!) if (removed[j] === 0) dropped.push([members[j]!, members[best]!]);
    back.push(best);
    take(best);
    left--;
  }
  back.reverse();
  const order = [...front, ...back].map((i) => members[i]!);
  dropped.sort(
    (a, b) => compareNames(nameOf(a[0]), nameOf(b[0])) || compareNames(nameOf(a[1]), nameOf(b[1])),
  );
  return { order, dropped };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A binary heap; `before(a, b)` is true when `a` comes out first. */
class Heap<T> {
  readonly #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  push(item: T): void {
    const items = this.#items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && this.#before(items[l]!, items[m]!)) m = l;
      if (r < items.length && this.#before(items[r]!, items[m]!)) m = r;
      if (m === i) break;
      [items[i], items[m]] = [items[m]!, items[i]!];
      i = m;
    }
    return top;
  }
}
