/**
 * Why the index refuses something: which chain of dependents holds a package that cannot be
 * removed, and which dependency is missing, or which path would close a cycle, for a package
 * that cannot be indexed with a given list.
 */
import type { DependencyGraph } from './dependency-graph.js';
import type { Entry, PackageNode } from './package-node.js';
import { finish, STEP_VISITS, visitBudget, type Steps, type WalkOptions } from './query-bounds.js';

export interface HeldBy {
  /**
   * Packages from one that nothing depends on down to `name`, each depending on the next:
   * `[name]` alone when nothing depends on it (it can be removed).
   */
  readonly chain: readonly string[];
  /** True when the chain is a shortest one (found breadth first within the visit budget). */
  readonly shortest: boolean;
  /** False when even following the first dependent up ran out of visits: the chain stops short. */
  readonly complete: boolean;
}

/** What keeps `name` from being removed; undefined when it is not indexed. */
export function whyHeld(graph: DependencyGraph, name: string, options: WalkOptions = {}): HeldBy | undefined {
  return finish(whyHeldSteps(graph, name, options));
}

/** `whyHeld`, pausing every STEP_VISITS visits (see Steps). */
export function* whyHeldSteps(
  graph: DependencyGraph,
  name: string,
  options: WalkOptions = {},
): Steps<HeldBy | undefined> {
  const start = graph.node(name);
  if (start === undefined) return undefined;
  const maxVisits = visitBudget(options);
  // Breadth first up the dependents, to the nearest package nothing depends on.
  const parent = new Map<PackageNode, PackageNode | null>([[start, null]]);
  const queue: PackageNode[] = [start];
  let visits = 0;
  if (start.dependents === 0) return { chain: [name], shortest: true, complete: true };
  // A package nothing depends on is taken as soon as it is found, not when its turn comes:
  // libc6's first level alone holds tens of thousands of packages.
  let leaf: PackageNode | undefined;
  for (let head = 0; head < queue.length && visits < maxVisits && leaf === undefined; head++) {
    const node = queue[head]!;
    visits++;
    for (let k = 0; k < node.dependents && visits++ < maxVisits; k++) {
      if (visits % STEP_VISITS === 0) yield;
      const user = graph.dependentAt(node, k);
      if (parent.has(user)) continue;
      parent.set(user, node);
      if (user.dependents === 0) {
        leaf = user;
        break;
      }
      queue.push(user);
    }
  }
  if (leaf !== undefined) return { chain: pathUp(parent, leaf), shortest: true, complete: true };
  // Out of budget: any chain will do. Going up the first dependent each time ends at a
  // package nothing depends on, since there is no cycle.
  const chain = [start.name];
  let node = start;
  for (let steps = 0; node.dependents > 0; steps++) {
    if (steps === maxVisits) return { chain: chain.reverse(), shortest: false, complete: false };
    if (steps % STEP_VISITS === STEP_VISITS - 1) yield;
    let first: PackageNode | undefined;
    graph.forEachDependent(node, (user) => {
      first = user;
      return false;
    });
    node = first!;
    chain.push(node.name);
  }
  return { chain: chain.reverse(), shortest: false, complete: true };
}

/** `[top, ..., node]` from the parent links of a breadth-first search up from `node`'s end. */
function pathUp(parent: ReadonlyMap<PackageNode, PackageNode | null>, top: PackageNode): string[] {
  const chain: string[] = [];
  for (let n: PackageNode | null = top; n !== null; n = parent.get(n) ?? null) chain.push(n.name);
  return chain;
}

export const IndexVerdict = {
  /** The index would accept the list. */
  OK: 'ok',
  MISSING_DEPENDENCY: 'missing-dependency',
  CYCLE: 'cycle',
  /** The search for a cycle ran out of visits. */
  UNKNOWN: 'unknown',
} as const;
export type IndexVerdict = (typeof IndexVerdict)[keyof typeof IndexVerdict];

export type IndexExplanation =
  | { readonly verdict: typeof IndexVerdict.OK }
  | { readonly verdict: typeof IndexVerdict.UNKNOWN }
  | {
      readonly verdict: typeof IndexVerdict.MISSING_DEPENDENCY;
      /** The dependencies not indexed, each once, in the order given. */
      readonly missing: readonly string[];
    }
  | {
      readonly verdict: typeof IndexVerdict.CYCLE;
      /** `[name, dep, ..., name]`: each depends on the next once `name` lists `dep`. */
      readonly cycle: readonly string[];
    };

/** Whether `INDEX|name|deps` would be accepted now, and if not, why. */
export function whyRefused(
  graph: DependencyGraph,
  name: string,
  deps: readonly string[],
  options: WalkOptions = {},
): IndexExplanation {
  return finish(whyRefusedSteps(graph, name, deps, options));
}

/** `whyRefused`, pausing every STEP_VISITS visits (see Steps). */
export function* whyRefusedSteps(
  graph: DependencyGraph,
  name: string,
  deps: readonly string[],
  options: WalkOptions = {},
): Steps<IndexExplanation> {
  const missing = [...new Set(deps.filter((d) => !graph.has(d)))];
  if (missing.length > 0) return { verdict: IndexVerdict.MISSING_DEPENDENCY, missing };
  const target = graph.node(name) as Entry | undefined;
  if (target === undefined) return { verdict: IndexVerdict.OK };
  if (deps.includes(name)) return { verdict: IndexVerdict.CYCLE, cycle: [name, name] };
  // The search below trusts positions: a package nothing depends on may sit anywhere until linked.
  graph.linkWaiting();
  // Breadth first down from the new dependencies to `name`. Only packages above `name` in the
  // topological order can depend on it: the others are not searched.
  const parent = new Map<Entry, Entry | null>();
  const queue: Entry[] = [];
  for (const d of deps) {
    const dep = graph.node(d) as Entry;
    if (dep.ord > target.ord && !parent.has(dep)) {
      parent.set(dep, null);
      queue.push(dep);
    }
  }
  const maxVisits = visitBudget(options);
  let visits = 0;
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (let i = 0; i < node.links.length; i++) {
      const dep = node.links[i]!;
      if (++visits > maxVisits) return { verdict: IndexVerdict.UNKNOWN };
      if (visits % STEP_VISITS === 0) yield;
      if (dep === target) {
        // From `node` back up to the listed dependency it was reached from.
        const up: string[] = [];
        for (let n: Entry | null = node; n !== null; n = parent.get(n) ?? null) up.push(n.name);
        return { verdict: IndexVerdict.CYCLE, cycle: [name, ...up.reverse(), name] };
      }
      if (dep.ord > target.ord && !parent.has(dep)) {
        parent.set(dep, node);
        queue.push(dep);
      }
    }
  }
  return { verdict: IndexVerdict.OK };
}
