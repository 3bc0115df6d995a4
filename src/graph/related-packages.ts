/**
 * A package's dependencies or dependents, direct or transitive, by name, a page at a time
 * (`GET /v1/packages/{name}/dependencies?transitive=true`, `apt-cache rdepends`).
 *
 * Each page is computed afresh from the current graph: the related packages after the cursor,
 * the first `limit` of them by name. So pages never repeat a package and skip none that stayed
 * related between pages. A transitive page walks the whole closure (within `maxVisits`), so
 * its cost is the closure's, not the page's; `total` says how large the closure is.
 */
import { Direction, walkClosureSteps } from './closure-walk.js';
import type { DependencyGraph } from './dependency-graph.js';
import { FirstNamesCollector, firstNamesSteps, type FirstNames } from './first-names.js';
import { dependenciesOf, dependencyCount } from './package-node.js';
import {
  finish,
  pageLimit,
  visitBudget,
  type Page,
  type PageOptions,
  type Steps,
  type WalkOptions,
} from './query-bounds.js';

export { Direction } from './closure-walk.js';

export interface RelatedOptions extends PageOptions, WalkOptions {
  /** Follow the edges transitively (default: direct only). */
  readonly transitive?: boolean;
}

export interface RelatedPage extends Page<string> {
  /** How many related packages there are in all (within the walk, when truncated). */
  readonly total: number;
  /** True when the walk ran out of visits: pages may miss packages, `total` is a lower bound. */
  readonly truncated: boolean;
}

/** A page of the packages `name` depends on; undefined when `name` is not indexed. */
export function dependenciesPage(
  graph: DependencyGraph,
  name: string,
  options: RelatedOptions = {},
): RelatedPage | undefined {
  return relatedPage(graph, name, Direction.DEPENDENCIES, options);
}

/** A page of the packages that depend on `name`; undefined when `name` is not indexed. */
export function dependentsPage(
  graph: DependencyGraph,
  name: string,
  options: RelatedOptions = {},
): RelatedPage | undefined {
  return relatedPage(graph, name, Direction.DEPENDENTS, options);
}

export function relatedPage(
  graph: DependencyGraph,
  name: string,
  direction: Direction,
  options: RelatedOptions,
): RelatedPage | undefined {
  return finish(relatedPageSteps(graph, name, direction, options));
}

/** `relatedPage`, pausing every STEP_VISITS visits (see Steps). */
export function* relatedPageSteps(
  graph: DependencyGraph,
  name: string,
  direction: Direction,
  options: RelatedOptions,
): Steps<RelatedPage | undefined> {
  const node = graph.node(name);
  if (node === undefined) return undefined;
  const limit = pageLimit(options);
  const maxVisits = visitBudget(options);
  let page: FirstNames<{ readonly name: string }>;
  let total: number;
  let truncated: boolean;
  if (options.transitive === true) {
    const collector = new FirstNamesCollector<{ readonly name: string }>(options.after, limit);
    const walk = yield* walkClosureSteps(graph, node, direction, maxVisits, (n) => {
      collector.add(n);
    });
    page = collector.result();
    total = walk.reached;
    truncated = !walk.complete;
  } else {
    const related = direction === Direction.DEPENDENCIES ? dependenciesOf(node) : graph.dependents(node);
    const first = yield* firstNamesSteps(related, options.after, limit, maxVisits);
    page = first;
    total = direction === Direction.DEPENDENCIES ? dependencyCount(node) : node.dependents;
    truncated = !first.complete;
  }
  const items = page.items.map((n) => n.name);
  return { items, next: page.more && items.length > 0 ? items[items.length - 1]! : null, total, truncated };
}
