/**
 * The read side of the index: what the query API (`/v1/...`), the CLI's queries and the
 * dashboard may ask, apart from the protocol's write path (`IndexStore`). The embedded stores
 * answer from their in-memory graph (`GraphReader`); a database backend answers with its own
 * queries, which is why every method returns a promise.
 *
 * Contract:
 * - each answer describes one consistent state of the index (not necessarily the latest by the
 *   time it arrives);
 * - each answer is bounded: the options carry the bounds (`limit`, `maxVisits`, `maxNodes`),
 *   and an answer that hit them says so (`truncated`, `exact: false`) instead of taking longer;
 * - lists are keyset-paginated by name, bytewise: a page holds the names after the previous
 *   page's cursor, so pages never repeat or skip a package that stayed indexed between them;
 * - an unknown package is `undefined`, never an error.
 */
import type {
  HeldBy,
  IndexExplanation,
  ListOptions,
  Order,
  PackageInfo,
  PackageInfoOptions,
  PackageSummary,
  Page,
  RelatedOptions,
  RelatedPage,
  SurveyResult,
  Tree,
  TreeOptions,
  WalkOptions,
} from '../graph/queries.js';
import { Direction } from '../graph/queries.js';

export { DEFAULT_LIMIT, DEFAULT_MAX_VISITS, MAX_LIMIT } from '../graph/queries.js';
export { Direction, IndexVerdict } from '../graph/queries.js';
export type {
  HeldBy,
  IndexExplanation,
  ListOptions,
  Order,
  PackageInfo,
  PackageInfoOptions,
  PackageSummary,
  Page,
  RelatedOptions,
  RelatedPage,
  SurveyResult,
  Tree,
  TreeNode,
  TreeOptions,
  WalkOptions,
} from '../graph/queries.js';

/** Which packages a listing holds. */
export const ListFilter = {
  ALL: 'all',
  /** Nothing depends on them (`brew leaves`). */
  LEAVES: 'leaves',
  /** They depend on nothing. */
  ROOTS: 'roots',
} as const;
export type ListFilter = (typeof ListFilter)[keyof typeof ListFilter];

/** The last finished survey of the whole index (longest chains, largest closures). */
export interface SurveyReport {
  readonly result: SurveyResult;
  /** When it finished (ms since the epoch). */
  readonly finishedAt: number;
  /** True when the index changed since it ran: a newer one is being taken. */
  readonly stale: boolean;
}

export interface IndexReader {
  /** A page of packages by name, with their direct dependency and dependent counts. */
  listPackages(filter: ListFilter, options: ListOptions): Promise<Page<PackageSummary>>;
  packageInfo(name: string, options?: PackageInfoOptions): Promise<PackageInfo | undefined>;
  /** A page of `name`'s dependencies or dependents, direct or transitive, by name. */
  related(name: string, direction: Direction, options: RelatedOptions): Promise<RelatedPage | undefined>;
  /** `name`'s dependency tree (or reverse tree), depth- and size-limited. */
  tree(name: string, direction: Direction, options: TreeOptions): Promise<Tree | undefined>;
  /** The chain of dependents that keeps `name` from being removed. */
  whyHeld(name: string, options?: WalkOptions): Promise<HeldBy | undefined>;
  /** Whether `INDEX|name|deps` would be accepted now, and if not, why. */
  whyRefused(name: string, deps: readonly string[], options?: WalkOptions): Promise<IndexExplanation>;
  /** `name`'s transitive dependencies, each after its own, then `name`. */
  installOrder(name: string, options?: WalkOptions): Promise<Order | undefined>;
  /** `name` and everything that depends on it, dependents first. */
  removalOrder(name: string, options?: WalkOptions): Promise<Order | undefined>;
  /**
   * The last finished survey of the whole index, taking a new one in the background when the
   * index changed since; waits for the first one.
   */
  survey(): Promise<SurveyReport>;
}

/** Both directions, for callers that take the direction from a request. */
export const DIRECTIONS: readonly Direction[] = [Direction.DEPENDENCIES, Direction.DEPENDENTS];
