/**
 * Bounded walks of a package's transitive dependencies or dependents: breadth first (so a
 * truncated walk holds the nearest packages), stopping after a budget of packages and edges.
 */
import type { DependencyGraph } from './dependency-graph.js';
import { dependencyAt, dependencyCount, type PackageNode, type VisitMarks } from './package-node.js';
import { finish, STEP_VISITS, type Steps } from './query-bounds.js';

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
  return finish(walkClosureSteps(graph, start, direction, maxVisits, visit));
}

/** `walkClosure`, pausing every STEP_VISITS visits (see Steps). */
export function* walkClosureSteps(
  graph: DependencyGraph,
  start: PackageNode,
  direction: Direction,
  maxVisits: number,
  visit: (node: PackageNode) => void,
): Steps<WalkResult> {
  const walker = new ClosureWalker(graph, start, direction, visit, graph.visitMarks());
  while (!walker.step(Math.min(STEP_VISITS, maxVisits - walker.visits)) && walker.visits < maxVisits) yield;
  return { reached: walker.reached, complete: walker.done, visits: walker.visits };
}

/**
 * A breadth-first walk of a closure that can stop after a budget of visits and go on later.
 * Between steps the graph may change; the walk then describes no single state of it (the
 * caller can tell by `DependencyGraph.version`).
 */
export class ClosureWalker {
  readonly #graph: DependencyGraph;
  readonly #direction: Direction;
  readonly #visit: (node: PackageNode) => void;
  readonly #seen: VisitMarks;
  #reached = 0;
  readonly #queue: PackageNode[];
  #head = 0;
  /** Whether the package at `#head` was counted, and the next of its neighbours to look at. */
  #opened = false;
  #at = 0;
  /** Packages plus edges looked at so far. */
  visits = 0;
  done = false;

  /** `marks`: the graph's shared ones for a walk done in one call, else `graph.newVisitMarks()`. */
  constructor(
    graph: DependencyGraph,
    start: PackageNode,
    direction: Direction,
    visit: (node: PackageNode) => void,
    marks: VisitMarks = graph.newVisitMarks(),
  ) {
    this.#graph = graph;
    this.#direction = direction;
    this.#visit = visit;
    this.#seen = marks;
    marks.begin();
    marks.see(start);
    this.#queue = [start];
  }

  /** Packages reached so far, the start not included. */
  get reached(): number {
    return this.#reached;
  }

  /** Walks on for at most `budget` visits; true once the closure is complete. */
  step(budget: number): boolean {
    const queue = this.#queue;
    const seen = this.#seen;
    const down = this.#direction === Direction.DEPENDENCIES;
    let left = budget;
    while (!this.done && left > 0) {
      if (this.#head === queue.length) {
        this.done = true;
        break;
      }
      const node = queue[this.#head]!;
      if (!this.#opened) {
        this.#opened = true;
        left--;
      }
      const count = down ? dependencyCount(node) : node.dependents;
      let at = this.#at;
      for (; at < count && left > 0; at++, left--) {
        const next = down ? dependencyAt(node, at) : this.#graph.dependentAt(node, at);
        if (seen.see(next)) {
          this.#reached++;
          queue.push(next);
          this.#visit(next);
        }
      }
      if (at === count) {
        this.#head++;
        this.#at = 0;
        this.#opened = false;
      } else this.#at = at;
    }
    this.visits += budget - left;
    return this.done;
  }
}
