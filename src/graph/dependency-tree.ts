/**
 * A package's dependencies as a tree (`brew deps --tree`, `pactree`), or its dependents as a
 * reverse tree (`apt-cache rdepends`, `pactree -r`): children sorted by name, depth-limited,
 * each package expanded once only (later occurrences are marked `seen`), and at most
 * `maxNodes` nodes in all.
 */
import type { DependencyGraph } from './dependency-graph.js';
import { Direction } from './closure-walk.js';
import { firstNamesSteps } from './first-names.js';
import { dependenciesOf, dependencyCount, type PackageNode } from './package-node.js';
import { finish, visitBudget, type Steps } from './query-bounds.js';

export interface TreeNode {
  readonly name: string;
  /** Its children, by name; absent when it has none or is not expanded (see the flags). */
  readonly children?: readonly TreeNode[];
  /** Expanded elsewhere in this tree, earlier in depth-first order: its children are there. */
  readonly seen?: true;
  /** Has children, not shown: the depth limit or the node budget was reached. */
  readonly more?: true;
}

export interface Tree {
  readonly root: TreeNode;
  /** Nodes in the tree, the root included. */
  readonly nodes: number;
  /** True when the node budget cut the tree short (some `more` nodes are due to it). */
  readonly truncated: boolean;
}

export interface TreeOptions {
  /** Levels below the root to show (default 8). */
  readonly depth?: number;
  /** Most nodes in the tree (default 1,000, at most 10,000). */
  readonly maxNodes?: number;
  /**
   * Most edges looked at (default DEFAULT_MAX_VISITS): a package with more dependents than
   * are left shows the first ones by name among those looked at, and is marked `more`.
   */
  readonly maxVisits?: number;
}

/** The dependency tree of `name`; undefined when it is not indexed. */
export function dependencyTree(
  graph: DependencyGraph,
  name: string,
  options: TreeOptions = {},
): Tree | undefined {
  return finish(treeSteps(graph, name, Direction.DEPENDENCIES, options));
}

/** The reverse dependency tree of `name` (what depends on it); undefined when it is not indexed. */
export function dependentTree(
  graph: DependencyGraph,
  name: string,
  options: TreeOptions = {},
): Tree | undefined {
  return finish(treeSteps(graph, name, Direction.DEPENDENTS, options));
}

interface Building {
  readonly name: string;
  children?: Building[];
  seen?: true;
  more?: true;
}

/** The tree (or reverse tree) of `name`, pausing every STEP_VISITS edges (see Steps). */
export function* treeSteps(
  graph: DependencyGraph,
  name: string,
  direction: Direction,
  options: TreeOptions,
): Steps<Tree | undefined> {
  const start = graph.node(name);
  if (start === undefined) return undefined;
  const maxDepth = Math.max(0, Math.floor(options.depth ?? 8));
  const maxNodes = Math.max(1, Math.min(Math.floor(options.maxNodes ?? 1000), 10_000));
  let visitsLeft = visitBudget(options);
  const down = direction === Direction.DEPENDENCIES;
  const expanded = new Set<PackageNode>();
  const root: Building = { name };
  let nodes = 1;
  let truncated = false;
  // Depth first, children in name order: a package is expanded where it first appears.
  const stack: [PackageNode, Building, number][] = [[start, root, 0]];
  while (stack.length > 0) {
    const [node, out, level] = stack.pop()!;
    if ((down ? dependencyCount(node) : node.dependents) === 0) continue;
    if (expanded.has(node)) {
      out.seen = true;
      continue;
    }
    if (level === maxDepth || nodes === maxNodes || visitsLeft === 0) {
      out.more = true;
      if (level < maxDepth) truncated = true;
      continue;
    }
    expanded.add(node);
    const first = yield* firstNamesSteps(
      down ? dependenciesOf(node) : graph.dependents(node),
      undefined,
      maxNodes - nodes,
      visitsLeft,
    );
    visitsLeft -= first.scanned;
    if (first.more) {
      out.more = true;
      truncated = true;
    }
    const children: Building[] = first.items.map((n) => ({ name: n.name }));
    out.children = children;
    nodes += children.length;
    for (let i = children.length - 1; i >= 0; i--) stack.push([first.items[i]!, children[i]!, level + 1]);
  }
  return { root, nodes, truncated };
}
