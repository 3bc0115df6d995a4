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
 * 4. Finally each dropped dependency is put back if it closes no cycle with the ones kept (the
 *    greedy order can drop a few needlessly: 1 of 75 in Debian bookworm), so every dependency
 *    still dropped is needed; the order is then recomputed.
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
  const selfLoops: number[] = [];
  for (let i = 0; i < n; i++) {
    const mine: number[] = [];
    for (const dep of component.depsOf(members[i]!)) {
      const j = local.get(dep);
      if (j === undefined) continue;
      if (j === i) selfLoops.push(i);
      else mine.push(j);
    }
    mine.sort((a, b) => a - b);
    deps.push(mine);
    for (const j of mine) dependents[j]!.push(i);
  }
  const usedBy = members.map((node) => component.dependentsOf(node));

  const depCount = Int32Array.from(deps, (d) => d.length);
  const dependentCount = Int32Array.from(dependents, (d) => d.length);
  const removed = new Uint8Array(n);
  const front: number[] = []; // the plan's beginning, in order
  const back: number[] = []; // the plan's end, in reverse order
  // Packages that may have become free of dependencies or of dependents; checked when taken.
  const noDeps: number[] = [];
  const noDependents: number[] = [];
  // Max-heap on (dependencies − dependents, then fewer dependents in the whole source, then name);
  // entries go stale as counts change and are skipped when their score no longer matches.
  const score = (i: number): number => depCount[i]! - dependentCount[i]!;
  const cut: [number, number][] = [];
  const heap = new Heap<readonly [number, number]>(([a, sa], [b, sb]) =>
    sa !== sb ? sa > sb : usedBy[a]! !== usedBy[b]! ? usedBy[a]! < usedBy[b]! : a < b,
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
    for (const j of dependents[best]!) if (removed[j] === 0) cut.push([j, best]);
    back.push(best);
    take(best);
    left--;
  }
  back.reverse();
  const sequence = [...front, ...back];

  const kept = restoreNeedless(deps, cut);
  const dropped = [...selfLoops.map((i) => [i, i] as const), ...kept]
    .map(([i, j]) => [members[i]!, members[j]!] as const)
    .sort((a, b) => compareNames(nameOf(a[0]), nameOf(b[0])) || compareNames(nameOf(a[1]), nameOf(b[1])));
  const order = topologicalOrder(deps, kept, sequence).map((i) => members[i]!);
  return { order, dropped };
}

/**
 * Edge visits allowed for `restoreNeedless` per component: past this (thousands of dropped
 * edges in a very large component), the greedy set is kept as it is, not minimised.
 */
const RESTORE_BUDGET = 20_000_000;

/**
 * The greedy order can drop an edge that closes no cycle once the others are gone. Each dropped
 * edge is put back, in order, when its target does not reach its source through the edges kept
 * so far, so every edge still dropped is needed: putting any one back alone closes a cycle.
 * Returns the edges still dropped.
 */
function restoreNeedless(
  deps: readonly (readonly number[])[],
  cut: readonly (readonly [number, number])[],
): (readonly [number, number])[] {
  const n = deps.length;
  const edges = deps.reduce((sum, d) => sum + d.length, 0);
  if (cut.length * (n + edges) > RESTORE_BUDGET) return [...cut];
  const dropped = new Set(cut.map(([i, j]) => i * n + j));
  const seen = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  cut.forEach(([from, to], attempt) => {
    // Does `to` reach `from` without the edges dropped now (this one included)?
    stack.push(to);
    seen[to] = attempt;
    let closes = false;
    while (stack.length > 0 && !closes) {
      const v = stack.pop()!;
      for (const w of deps[v]!) {
        if (seen[w] === attempt || dropped.has(v * n + w)) continue;
        if (w === from) closes = true;
        seen[w] = attempt;
        stack.push(w);
      }
    }
    stack.length = 0;
    if (!closes) dropped.delete(from * n + to);
  });
  return cut.filter(([i, j]) => dropped.has(i * n + j));
}

/**
 * Dependencies first over the edges not dropped, ties going to the earlier place in the greedy
 * `sequence`; restored edges can make that sequence itself wrong.
 */
function topologicalOrder(
  deps: readonly (readonly number[])[],
  dropped: readonly (readonly [number, number])[],
  sequence: readonly number[],
): number[] {
  const n = deps.length;
  const gone = new Set(dropped.map(([i, j]) => i * n + j));
  const place = new Int32Array(n);
  sequence.forEach((v, at) => (place[v] = at));
  const waiting = new Int32Array(n);
  const dependents: number[][] = deps.map(() => []);
  deps.forEach((mine, v) => {
    for (const w of mine)
      if (!gone.has(v * n + w)) {
        waiting[v]!++;
        dependents[w]!.push(v);
      }
  });
  const ready = new Heap<number>((a, b) => place[a]! < place[b]!);
  for (let v = 0; v < n; v++) if (waiting[v] === 0) ready.push(v);
  const order: number[] = [];
  for (let v = ready.pop(); v !== undefined; v = ready.pop()) {
    order.push(v);
    for (const u of dependents[v]!) if (--waiting[u]! === 0) ready.push(u);
  }
  return order;
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
