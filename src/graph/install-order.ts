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
   * only (an install order without the package itself at the end, or a removal order missing
   * some dependents).
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
  const found: Entry[] = [start as Entry];
  const walk = yield* walkClosureSteps(graph, start, Direction.DEPENDENTS, visitBudget(options), (n) =>
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
  const items: string[] = new Array<string>(sorter.length);
  for (let i = 0, j = sorter.length - 1; j >= 0; i++, j--) {
    items[i] = sorted[j]!.name;
    if (i % (STEP_VISITS * 8) === 0) yield;
  }
  return { items, truncated: !walk.complete };
}
