/**
 * The read side of the embedded stores: the pure queries of src/graph run against the store's
 * in-memory graph, one at a time, in slices of at most `sliceMs` per event-loop turn.
 *
 * Why slices: a walk of a closure of 60,000 packages takes tens of milliseconds on a loaded
 * machine, and the protocol's sockets are not read while it runs. Each query is a generator
 * that pauses every STEP_VISITS visits (src/graph/query-bounds.ts); the reader runs its steps
 * until the slice's time is up and goes on in the next turn (`setImmediate`), so the protocol
 * waits for one slice at most. An answer must still describe one state of the index: when the
 * graph changed between two slices (its version moved, or the store reopened and replaced it),
 * the query starts again, and after MAX_RESTARTS it is refused with E_QUERY_BUSY (503, retry).
 * Queries run one at a time, in arrival order, so the shared visit marks serve them all and a
 * burst of queries adds one slice to a protocol reply, not a slice per query. Work that needs
 * the whole graph (the sorted name view after an import, the survey) runs in bounded steps, one
 * per turn, the same way. Decisions, alternatives and figures: docs/adr/0014-query-api.md.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DependencyGraph } from '../graph/dependency-graph.js';
import {
  GraphSurvey,
  installOrderSteps,
  listLeaves,
  listPackages,
  listRoots,
  packageInfoSteps,
  relatedPageSteps,
  removalOrderSteps,
  treeSteps,
  whyHeldSteps,
  whyRefusedSteps,
  type ListPage,
  type Steps,
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
/** Times a query starts again because the index changed under it before it is refused busy. */
export const MAX_RESTARTS = 3;
/** Seconds a client refused E_QUERY_BUSY is told to wait (the Retry-After header). */
export const BUSY_RETRY_AFTER_SECONDS = 1;
/** Longest a query runs in one turn when the store's owner does not say (`--turn-budget-us`). */
const DEFAULT_SLICE_MS = 1;

/** Units of survey work per turn (packages and edges visited, about a millisecond). */
const SURVEY_PER_TURN = 20_000;

const LISTS = {
  [ListFilter.ALL]: listPackages,
  [ListFilter.LEAVES]: listLeaves,
  [ListFilter.ROOTS]: listRoots,
} as const;

export interface GraphReaderOptions {
  /** Longest a query runs in one event-loop turn, in milliseconds (0: one step per turn). */
  readonly sliceMs?: number;
}

/** One step of work that needs no slicing (it is bounded by itself). */
// eslint-disable-next-line require-yield -- a query of one step: it never pauses.
function* once<T>(work: () => T): Steps<T> {
  return work();
}

export class GraphReader implements IndexReader {
  readonly #graph: () => DependencyGraph;
  readonly #sliceMs: number;
  /** The end of the queue of queries: each starts in the turn after the one before it ends. */
  #queue: Promise<unknown> = Promise.resolve();
  #survey: { report: SurveyReport; version: number } | null = null;
  #surveying: Promise<SurveyReport> | null = null;
  /** Queries started again because the index changed under them, and refused after MAX_RESTARTS. */
  restarts = 0;
  refusedChanging = 0;
  /** Turns in which a query ran (a query of one slice counts one). */
  slices = 0;

  /** `graph` returns the store's current graph (a store that reopens replaces it). */
  constructor(graph: () => DependencyGraph, options: GraphReaderOptions = {}) {
    this.#graph = graph;
    this.#sliceMs = Math.max(0, options.sliceMs ?? DEFAULT_SLICE_MS);
  }

  /**
   * Runs `query` alone, after every query queued before it, in slices of `sliceMs` per turn,
   * starting it again when the graph changed between two slices (see the module's comment).
   */
  #run<T>(query: (graph: DependencyGraph) => Steps<T>): Promise<T> {
    const result = this.#queue.then(async () => {
      for (let attempt = 0; ; attempt++) {
        await nextTurn();
        const graph = this.#graph();
        const version = graph.version;
        const steps = query(graph);
        for (;;) {
          this.slices++;
          const deadline = performance.now() + this.#sliceMs;
          let step = steps.next();
          while (step.done !== true && performance.now() < deadline) step = steps.next();
          if (step.done === true) return step.value;
          await nextTurn();
          if (this.#graph() !== graph || graph.version !== version) break;
        }
        if (attempt === MAX_RESTARTS) {
          this.refusedChanging++;
          throw createError(
            'E_QUERY_BUSY',
            `the index changed ${MAX_RESTARTS + 1} times while this query walked it; retry in ${BUSY_RETRY_AFTER_SECONDS} s, or ask a smaller question (a page, a lower depth) that fits between writes`,
          );
        }
        this.restarts++;
      }
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async listPackages(filter: ListFilter, options: ListOptions): Promise<Page<PackageSummary>> {
    const list = LISTS[filter];
    for (let turn = 0; turn < MAX_UPKEEP_TURNS; turn++) {
      const page: ListPage = await this.#run((graph) =>
        once(() => list(graph, { ...options, upkeep: UPKEEP_PER_TURN })),
      );
      if (page.ready) return { items: page.items, next: page.next };
    }
    throw createError(
      'E_QUERY_BUSY',
      'the sorted view of the names is still being built after a large import; retry in a few seconds',
    );
  }

  packageInfo(name: string, options: PackageInfoOptions = {}): Promise<PackageInfo | undefined> {
    return this.#run((graph) => packageInfoSteps(graph, name, options));
  }

  related(name: string, direction: Direction, options: RelatedOptions): Promise<RelatedPage | undefined> {
    return this.#run((graph) => relatedPageSteps(graph, name, direction, options));
  }

  tree(name: string, direction: Direction, options: TreeOptions): Promise<Tree | undefined> {
    return this.#run((graph) => treeSteps(graph, name, direction, options));
  }

  whyHeld(name: string, options: WalkOptions = {}): Promise<HeldBy | undefined> {
    return this.#run((graph) => whyHeldSteps(graph, name, options));
  }

  whyRefused(name: string, deps: readonly string[], options: WalkOptions = {}): Promise<IndexExplanation> {
    return this.#run((graph) => whyRefusedSteps(graph, name, deps, options));
  }

  installOrder(name: string, options: WalkOptions = {}): Promise<Order | undefined> {
    return this.#run((graph) => installOrderSteps(graph, name, options));
  }

  removalOrder(name: string, options: WalkOptions = {}): Promise<Order | undefined> {
    return this.#run((graph) => removalOrderSteps(graph, name, options));
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
    while (!(await this.#run(() => once(() => survey.step(SURVEY_PER_TURN)))));
    const report: SurveyReport = { result: survey.result(), finishedAt: Date.now(), stale: false };
    this.#survey = { report, version };
    return report;
  }
}
