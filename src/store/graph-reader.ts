/**
 * The read side of the embedded stores: the pure queries of src/graph run against the store's
 * in-memory graph, one at a time, each in its own turn of the event loop.
 *
 * Why a turn each: a query is synchronous and may take a few milliseconds (a closure of 60,000
 * packages). Node runs the callbacks of one poll phase back to back, so ten queries arriving
 * together would hold the protocol's sockets for ten queries' time. Queued here, each runs
 * alone in a `setImmediate` callback and the protocol's reads get a poll phase between two
 * queries: what a query can add to a protocol reply's latency is one query, not a queue of them.
 * Work that needs the whole graph (building the sorted name view, the survey) runs in bounded
 * steps, one per turn, the same way.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DependencyGraph } from '../graph/dependency-graph.js';
import {
  dependencyTree,
  dependentTree,
  GraphSurvey,
  installOrder,
  listLeaves,
  listPackages,
  listRoots,
  packageInfo,
  relatedPage,
  removalOrder,
  whyHeld,
  whyRefused,
  type ListPage,
} from '../graph/queries.js';
import { createError } from '../errors.js';
import {
  Direction,
  ListFilter,
  type HeldBy,
  type IndexExplanation,
  type IndexReader,
  type ListOptions,
  type Order,
  type PackageInfo,
  type PackageInfoOptions,
  type PackageSummary,
  type Page,
  type RelatedOptions,
  type RelatedPage,
  type SurveyReport,
  type Tree,
  type TreeOptions,
  type WalkOptions,
} from './index-reader.js';

/** Units of upkeep of the sorted name view per turn (about a millisecond; see sorted-names.ts). */
const UPKEEP_PER_TURN = 50_000;
/** Turns a listing waits for the sorted view before giving up (a view of tens of millions of names). */
const MAX_UPKEEP_TURNS = 10_000;
/** Units of survey work per turn (packages and edges visited, about a millisecond). */
const SURVEY_PER_TURN = 20_000;

const LISTS = {
  [ListFilter.ALL]: listPackages,
  [ListFilter.LEAVES]: listLeaves,
  [ListFilter.ROOTS]: listRoots,
} as const;

export class GraphReader implements IndexReader {
  readonly #graph: () => DependencyGraph;
  /** The end of the queue of queries: each runs in the turn after the one before it. */
  #queue: Promise<unknown> = Promise.resolve();
  #survey: { report: SurveyReport; version: number } | null = null;
  #surveying: Promise<SurveyReport> | null = null;

  /** `graph` returns the store's current graph (a store that reopens replaces it). */
  constructor(graph: () => DependencyGraph) {
    this.#graph = graph;
  }

  /** Runs `query` alone, in a turn of its own, after every query queued before it. */
  #run<T>(query: (graph: DependencyGraph) => T): Promise<T> {
    const result = this.#queue.then(async () => {
      await nextTurn();
      return query(this.#graph());
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async listPackages(filter: ListFilter, options: ListOptions): Promise<Page<PackageSummary>> {
    const list = LISTS[filter];
    for (let turn = 0; turn < MAX_UPKEEP_TURNS; turn++) {
      const page: ListPage = await this.#run((graph) => list(graph, { ...options, upkeep: UPKEEP_PER_TURN }));
      if (page.ready) return { items: page.items, next: page.next };
    }
    throw createError(
      'E_QUERY_BUSY',
      'the sorted view of the names is still being built after a large import; retry in a few seconds',
    );
  }

  packageInfo(name: string, options: PackageInfoOptions = {}): Promise<PackageInfo | undefined> {
    return this.#run((graph) => packageInfo(graph, name, options));
  }

  related(name: string, direction: Direction, options: RelatedOptions): Promise<RelatedPage | undefined> {
    return this.#run((graph) => relatedPage(graph, name, direction, options));
  }

  tree(name: string, direction: Direction, options: TreeOptions): Promise<Tree | undefined> {
    const build = direction === Direction.DEPENDENCIES ? dependencyTree : dependentTree;
    return this.#run((graph) => build(graph, name, options));
  }

  whyHeld(name: string, options: WalkOptions = {}): Promise<HeldBy | undefined> {
    return this.#run((graph) => whyHeld(graph, name, options));
  }

  whyRefused(name: string, deps: readonly string[], options: WalkOptions = {}): Promise<IndexExplanation> {
    return this.#run((graph) => whyRefused(graph, name, deps, options));
  }

  installOrder(name: string, options: WalkOptions = {}): Promise<Order | undefined> {
    return this.#run((graph) => installOrder(graph, name, options));
  }

  removalOrder(name: string, options: WalkOptions = {}): Promise<Order | undefined> {
    return this.#run((graph) => removalOrder(graph, name, options));
  }

  survey(): Promise<SurveyReport> {
    const graph = this.#graph();
    const last = this.#survey;
    if (last !== null && last.version === graph.version) return Promise.resolve(last.report);
    this.#surveying ??= this.#takeSurvey().finally(() => {
      this.#surveying = null;
    });
    if (last === null) return this.#surveying;
    // Handled by whoever waits for it next; a failed survey is retried then.
    this.#surveying.catch(() => undefined);
    return Promise.resolve({ ...last.report, stale: true });
  }

  async #takeSurvey(): Promise<SurveyReport> {
    const graph = this.#graph();
    const version = graph.version;
    const survey = new GraphSurvey(graph);
    while (!(await this.#run(() => survey.step(SURVEY_PER_TURN))));
    const report: SurveyReport = { result: survey.result(), finishedAt: Date.now(), stale: false };
    this.#survey = { report, version };
    return report;
  }
}
