/**
 * One package at a glance: its dependencies, its direct dependents, how many packages it
 * needs in all (its transitive closure) and how deep its longest dependency chain goes.
 */
import type { DependencyGraph } from './dependency-graph.js';
import { firstNamesSteps } from './first-names.js';
import {
  dependenciesOf,
  dependencyAt,
  dependencyCount,
  type PackageNode,
  type VisitMarks,
} from './package-node.js';
import { finish, MAX_LIMIT, STEP_VISITS, visitBudget, type Steps, type WalkOptions } from './query-bounds.js';

export interface PackageInfo {
  readonly name: string;
  /** Its dependencies, in the order indexed. */
  readonly dependencies: readonly string[];
  /**
   * Its direct dependents by name, the first `maxDependents` of them (of the first `maxVisits`
   * looked at, for a package with more dependents than that).
   */
  readonly dependents: readonly string[];
  /** How many packages depend on it directly (all of them, listed or not). */
  readonly dependentCount: number;
  /** How many packages it depends on, transitively (itself not included). */
  readonly closureSize: number;
  /** Edges on its longest dependency chain: 0 when it depends on nothing. */
  readonly depth: number;
  /** False when the walk ran out of visits: `closureSize` and `depth` are then lower bounds. */
  readonly exact: boolean;
}

export interface PackageInfoOptions extends WalkOptions {
  /** Most dependents listed (default and maximum MAX_LIMIT). */
  readonly maxDependents?: number;
}

/** What the index knows of `name`; undefined when it is not indexed. */
export function packageInfo(
  graph: DependencyGraph,
  name: string,
  options: PackageInfoOptions = {},
): PackageInfo | undefined {
  return finish(packageInfoSteps(graph, name, options));
}

/** `packageInfo`, pausing every STEP_VISITS visits (see Steps). */
export function* packageInfoSteps(
  graph: DependencyGraph,
  name: string,
  options: PackageInfoOptions = {},
): Steps<PackageInfo | undefined> {
  const node = graph.node(name);
  if (node === undefined) return undefined;
  const listed = Math.max(0, Math.min(options.maxDependents ?? MAX_LIMIT, MAX_LIMIT));
  const maxVisits = visitBudget(options);
  const { closureSize, depth, exact } = yield* measureClosureSteps(graph.visitMarks(), node, maxVisits);
  const dependents = yield* firstNamesSteps(graph.dependents(node), undefined, listed, maxVisits);
  return {
    name,
    dependencies: dependenciesOf(node).map((d) => d.name),
    dependents: dependents.items.map((n) => n.name),
    dependentCount: node.dependents,
    closureSize,
    depth,
    exact,
  };
}

/**
 * Size and depth of the dependency closure of `node`, by one depth-first walk that remembers
 * each package's depth (so a diamond is measured once), within `maxVisits` packages and edges.
 */
export function measureClosure(
  marks: VisitMarks,
  node: PackageNode,
  maxVisits: number,
): { closureSize: number; depth: number; exact: boolean } {
  return finish(measureClosureSteps(marks, node, maxVisits));
}

/** `measureClosure`, pausing every STEP_VISITS visits (see Steps). */
export function* measureClosureSteps(
  marks: VisitMarks,
  node: PackageNode,
  maxVisits: number,
): Steps<{ closureSize: number; depth: number; exact: boolean }> {
  // Marked when found; the value is the depth once finished (a package found earlier is
  // finished: one still on the stack cannot be reached again, there being no cycle).
  marks.begin();
  marks.see(node);
  let found = 1;
  const stack: [PackageNode, number, number][] = [[node, 0, 0]];
  let visits = 1;
  let deepest = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [current, i, best] = top;
    if (i === dependencyCount(current)) {
      stack.pop();
      marks.setValue(current, best);
      if (stack.length > 0) {
        const parent = stack[stack.length - 1]!;
        parent[2] = Math.max(parent[2], best + 1);
      }
      continue;
    }
    if (++visits > maxVisits) return { closureSize: found - 1, depth: deepest, exact: false };
    if (visits % STEP_VISITS === 0) yield;
    top[1] = i + 1;
    const dep = dependencyAt(current, i);
    if (marks.see(dep)) {
      found++;
      stack.push([dep, 0, 0]);
      deepest = Math.max(deepest, stack.length - 1);
    } else top[2] = Math.max(best, marks.value(dep) + 1);
  }
  return { closureSize: found - 1, depth: marks.value(node), exact: true };
}
