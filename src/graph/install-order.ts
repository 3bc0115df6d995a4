/**
 * Orders in which a package and its neighbourhood can be installed or removed: the install
 * order of a package's closure (each package after all of its dependencies, ending with the
 * package), and the safe removal order of a package with everything that depends on it (each
 * package before all of its dependencies, ending with the package).
 */
import { Direction, walkClosure } from './closure-walk.js';
import type { DependencyGraph } from './dependency-graph.js';
import { dependencyAt, dependencyCount, type Entry, type PackageNode } from './package-node.js';
import { visitBudget, type WalkOptions } from './query-bounds.js';

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
  const start = graph.node(name);
  if (start === undefined) return undefined;
  const found: Entry[] = [start as Entry];
  const walk = walkClosure(graph, start, Direction.DEPENDENTS, visitBudget(options), (n) =>
    found.push(n as Entry),
  );
  // The topological order has every dependent above its dependencies: highest first.
  found.sort((a, b) => b.ord - a.ord);
  return { items: found.map((e) => e.name), truncated: !walk.complete };
}
