/**
 * Orders in which a package and its neighbourhood can be installed or removed: the install
 * order of a package's closure (each package after all of its dependencies, ending with the
 * package), and the safe removal order of a package with everything that depends on it (each
 * package before all of its dependencies, ending with the package).
 */
import { Direction, walkClosureSteps } from './closure-walk.js';
import type { DependencyGraph } from './dependency-graph.js';
import { OrdSort } from './ord-sort.js';
import { dependencyAt, dependencyCount, type Entry, type PackageNode } from './package-node.js';
import { finish, STEP_VISITS, visitBudget, type Steps, type WalkOptions } from './query-bounds.js';

export interface Order {
  readonly items: readonly string[];
  /**
   * True when the walk ran out of visits: the items are a valid order of part of the closure
   * only. An install order then lacks the package itself at the end; a removal order holds
   * only the packages whose dependents all come before them in it (so removing them in this
   * order still never fails), usually without the package itself.
   */
  readonly truncated: boolean;
}

/**
 * `name`'s transitive dependencies, each after all of its own, then `name`: depth first in the
 * order each package lists its dependencies (like `brew deps -n --topological`). Undefined
 * when `name` is not indexed.
 */
export function installOrder(
  graph: DependencyGraph,
  name: string,
  options: WalkOptions = {},
): Order | undefined {
  return finish(installOrderSteps(graph, name, options));
}

/** `installOrder`, pausing every STEP_VISITS visits (see Steps). */
export function* installOrderSteps(
  graph: DependencyGraph,
  name: string,
  options: WalkOptions = {},
): Steps<Order | undefined> {
  const start = graph.node(name);
  if (start === undefined) return undefined;
  const maxVisits = visitBudget(options);
  const items: string[] = [];
  const seen = graph.visitMarks();
  seen.begin();
  seen.see(start);
  const stack: [PackageNode, number][] = [[start, 0]];
  let visits = 1;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i === dependencyCount(node)) {
      stack.pop();
      items.push(node.name);
      continue;
    }
    if (++visits > maxVisits) return { items, truncated: true };
    if (visits % STEP_VISITS === 0) yield;
    top[1] = i + 1;
    const dep = dependencyAt(node, i);
    if (seen.see(dep)) stack.push([dep, 0]);
  }
  return { items, truncated: false };
}

/**
 * `name` and every package that depends on it, transitively, dependents first: removing them in
 * this order never meets a package something still depends on. Undefined when not indexed.
 *
 * When the walk runs out of visits, the packages found are a part of the closure that is not
 * closed upwards: one found may have a dependent that was not (libc6's first level alone holds
 * tens of thousands of packages), and removing it would fail. The answer then keeps, of those
 * found, only the packages whose every dependent is kept too, checked dependents first in a
 * second budget as large as the walk's, so that a truncated removal order, like a truncated
 * install order, can still be followed to the letter. Refusing instead was weighed: the packages
 * nothing depends on, and what only they hold, can be removed at once, and removing them
 * shrinks the closure so that asking again gets further.
 */
export function removalOrder(
  graph: DependencyGraph,
  name: string,
  options: WalkOptions = {},
): Order | undefined {
  return finish(removalOrderSteps(graph, name, options));
}

/** `removalOrder`, pausing every STEP_VISITS visits (see Steps). */
export function* removalOrderSteps(
  graph: DependencyGraph,
  name: string,
  options: WalkOptions = {},
): Steps<Order | undefined> {
  const start = graph.node(name);
  if (start === undefined) return undefined;
  const maxVisits = visitBudget(options);
  const found: Entry[] = [start as Entry];
  const walk = yield* walkClosureSteps(graph, start, Direction.DEPENDENTS, maxVisits, (n) =>
    found.push(n as Entry),
  );
  // The topological order has every dependent above its dependencies: highest first. Sorted
  // in steps too: libc6's 50,000 dependents take milliseconds to sort.
  const sorter = new OrdSort();
  sorter.adopt(found);
  while (!sorter.done) {
    sorter.step(STEP_VISITS * 8);
    yield;
  }
  const sorted = sorter.result;
  if (!walk.complete)
    return { items: yield* closedUpwards(graph, sorted, sorter.length, maxVisits), truncated: true };
  const items: string[] = new Array<string>(sorter.length);
  for (let i = 0, j = sorter.length - 1; j >= 0; i++, j--) {
    items[i] = sorted[j]!.name;
    if (i % (STEP_VISITS * 8) === 0) yield;
  }
  return { items, truncated: false };
}

/**
 * The names of `sorted[0, length)` (ascending in the topological order) whose dependents are
 * all kept, highest first: each package is looked at after all of its dependents (they sit
 * above it), so one pass decides. Past `maxVisits` packages plus edges, the rest is left out:
 * a package not looked at is not kept, and so neither is anything it depends on.
 */
function* closedUpwards(
  graph: DependencyGraph,
  sorted: readonly Entry[],
  length: number,
  maxVisits: number,
): Steps<string[]> {
  const kept = new Set<PackageNode>();
  const items: string[] = [];
  let visits = 0;
  for (let j = length - 1; j >= 0 && visits < maxVisits; j--) {
    const node = sorted[j]!;
    let closed = true;
    for (let k = 0; k < node.dependents && closed; k++) {
      if (++visits % STEP_VISITS === 0) yield;
      if (visits > maxVisits || !kept.has(graph.dependentAt(node, k))) closed = false;
    }
    if (!closed) continue;
    kept.add(node);
    items.push(node.name);
  }
  return items;
}
