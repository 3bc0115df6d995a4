/**
 * Bounded walks of a package's transitive dependencies or dependents: breadth first (so a
 * truncated walk holds the nearest packages), stopping after a budget of packages and edges.
 */
import type { DependencyGraph } from './dependency-graph.js';
import { dependencyAt, dependencyCount, type PackageNode } from './package-node.js';

export const Direction = { DEPENDENCIES: 'dependencies', DEPENDENTS: 'dependents' } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export interface WalkResult {
  /** Packages reached, the start not included. */
  readonly reached: number;
  /** False when the budget ran out first: more packages may be reachable. */
  readonly complete: boolean;
  /** Packages plus edges looked at. */
  readonly visits: number;
}

/** Calls `visit` once with each package reachable from `start` (not with `start` itself). */
export function walkClosure(
  graph: DependencyGraph,
  start: PackageNode,
  direction: Direction,
  maxVisits: number,
  visit: (node: PackageNode) => void,
): WalkResult {
  const seen = new Set<PackageNode>([start]);
  const queue: PackageNode[] = [start];
  // Mutated from the dependents callback, hence an object.
  const budget = { visits: 0, complete: true };
  const take = (next: PackageNode): boolean => {
    if (++budget.visits > maxVisits) {
      budget.complete = false;
      return false;
    }
    if (!seen.has(next)) {
      seen.add(next);
      queue.push(next);
      visit(next);
    }
    return true;
  };
  for (let head = 0; head < queue.length && budget.complete; head++) {
    const node = queue[head]!;
    if (++budget.visits > maxVisits) {
      budget.complete = false;
      break;
    }
    if (direction === Direction.DEPENDENCIES) {
      for (let i = 0, n = dependencyCount(node); i < n; i++) if (!take(dependencyAt(node, i))) break;
    } else graph.forEachDependent(node, take);
  }
  return { reached: seen.size - 1, complete: budget.complete, visits: Math.min(budget.visits, maxVisits) };
}
