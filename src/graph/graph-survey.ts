/**
 * Index statistics that need the whole graph (the longest dependency chains, the packages
 * with the most dependents and the largest closures of dependents), computed by a survey that
 * runs in steps of bounded work, so a caller can spread it over many turns of its event loop
 * (`INFO`-like endpoints serve the last finished survey).
 *
 * Exact for the graph as it was, when nothing changed while it ran; otherwise flagged as
 * approximate. The counts that are cheap (packages, edges, roots, leaves) are exact, read when
 * the survey ends. Largest closures are sampled, not searched for: the transitive dependents
 * are counted for the `top` packages with the most direct dependents, each walk bounded
 * (`maxClosureVisits`) and spread over steps like the rest.
 *
 * Memory while it runs: an array of every package and a map of their depths, some 40 MB for
 * a million packages, released when it ends.
 */
import { createError } from '../errors.js';
import { ClosureWalker, Direction } from './closure-walk.js';
import type { DependencyGraph } from './dependency-graph.js';
import { OrdSort } from './ord-sort.js';
import { dependenciesOf, type Entry, type PackageNode, type VisitMarks } from './package-node.js';

export interface SurveyResult {
  readonly packages: number;
  readonly edges: number;
  /** Packages that depend on nothing. */
  readonly roots: number;
  /** Packages nothing depends on. */
  readonly leaves: number;
  /** Edges on the longest dependency chain. */
  readonly maxDepth: number;
  /** The longest chains, longest first: each package depends on the next. */
  readonly longestChains: readonly (readonly string[])[];
  /** The packages with the most direct dependents, most first. */
  readonly mostDependents: readonly { readonly name: string; readonly dependents: number }[];
  /** Of those, how many packages depend on each, transitively (a lower bound where not exact). */
  readonly largestClosures: readonly {
    readonly name: string;
    readonly dependents: number;
    readonly exact: boolean;
  }[];
  /** False when the graph changed while the survey ran: figures are then approximate. */
  readonly exact: boolean;
  /** Units of work the survey took (packages and edges visited, packages sorted). */
  readonly work: number;
}

export interface SurveyOptions {
  /** How many chains, and packages with the most dependents, to report (default 5). */
  readonly top?: number;
  /** Visits allowed per closure walk, over as many steps as it takes (default 2,000,000). */
  readonly maxClosureVisits?: number;
}

const Phase = { COLLECT: 0, SORT: 1, DEPTH: 2, CLOSURES: 3, DONE: 4 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

export class GraphSurvey {
  readonly #graph: DependencyGraph;
  readonly #top: number;
  readonly #maxClosureVisits: number;
  readonly #version: number;
  #phase: Phase = Phase.COLLECT;
  #work = 0;
  #exact = true;
  readonly #iterator: Iterator<unknown>;
  #all: Entry[] = [];
  #sort: OrdSort | null = null;
  #at = 0;
  /** Depth of each package measured so far, by id (no Map: it would pause to rehash at every doubling). */
  readonly #depth: DepthMarks;
  /** The deepest packages, deepest first. */
  readonly #deepest: Entry[] = [];
  /** The packages with the most direct dependents, most first. */
  readonly #hubs: Entry[] = [];
  readonly #closures: { name: string; dependents: number; exact: boolean }[] = [];
  #walker: ClosureWalker | null = null;
  #result: SurveyResult | null = null;

  constructor(graph: DependencyGraph, options: SurveyOptions = {}) {
    this.#graph = graph;
    this.#top = Math.max(1, options.top ?? 5);
    this.#maxClosureVisits = options.maxClosureVisits ?? 2_000_000;
    // Depths are measured in the order of positions: every package above its dependencies.
    graph.linkWaiting();
    this.#version = graph.version;
    this.#iterator = graph.nodes();
    this.#depth = new DepthMarks(graph.newVisitMarks());
  }

  get done(): boolean {
    return this.#phase === Phase.DONE;
  }

  /** Works for about `budget` units; true once the survey is done. */
  step(budget: number): boolean {
    const start = this.#work;
    while (this.#phase !== Phase.DONE && this.#work - start < budget) {
      const left = budget - (this.#work - start);
      switch (this.#phase) {
        case Phase.COLLECT:
          this.#collect(left);
          break;
        case Phase.SORT:
          this.#work += this.#sort!.step(left);
          if (this.#sort!.done) this.#phase = Phase.DEPTH;
          break;
        case Phase.DEPTH:
          this.#measureDepths(left);
          break;
        case Phase.CLOSURES:
          this.#measureClosure(left);
          break;
      }
    }
    return this.done;
  }

  /** The survey's figures; only once `done`. */
  result(): SurveyResult {
    if (this.#result === null)
      throw createError('E_INTERNAL', 'GraphSurvey.result() before the survey is done');
    return this.#result;
  }

  #collect(budget: number): void {
    for (let n = 0; n < budget; n++) {
      const r = this.#iterator.next();
      if (r.done === true) {
        this.#sort = new OrdSort();
        this.#sort.adopt(this.#all);
        this.#all = [];
        this.#phase = Phase.SORT;
        return;
      }
      const entry = r.value as Entry;
      this.#all.push(entry);
      keepTop(this.#hubs, entry, this.#top, (e) => e.dependents);
      this.#work++;
    }
  }

  /** Depth of each package from its dependencies', lowest in the topological order first. */
  #measureDepths(budget: number): void {
    const all = this.#sort!.result;
    const n = this.#sort!.length;
    const depth = this.#depth;
    let work = 0;
    while (this.#at < n && work < budget) {
      const entry = all[this.#at++]!;
      let d = 0;
      const links = entry.links;
      for (let i = 0; i < links.length; i++) {
        const below = depth.get(links[i]!);
        // Not measured yet: the order changed while the survey ran.
        if (below === undefined) this.#exact = false;
        else if (below + 1 > d) d = below + 1;
      }
      depth.set(entry, d);
      keepTop(this.#deepest, entry, this.#top, (e) => depth.get(e) ?? 0);
      work += 1 + links.length;
    }
    this.#work += work;
    if (this.#at === n) this.#phase = Phase.CLOSURES;
  }

  /** Walks the closure of dependents of each package with the most direct dependents, in steps. */
  #measureClosure(budget: number): void {
    const hub = this.#hubs[this.#closures.length];
    if (hub === undefined) {
      this.#finish();
      return;
    }
    this.#walker ??= new ClosureWalker(this.#graph, hub, Direction.DEPENDENTS, () => {});
    const walker = this.#walker;
    const before = walker.visits;
    const done = walker.step(Math.min(budget, this.#maxClosureVisits - walker.visits));
    this.#work += Math.max(1, walker.visits - before);
    if (done || walker.visits >= this.#maxClosureVisits) {
      this.#closures.push({ name: hub.name, dependents: walker.reached, exact: done });
      this.#walker = null;
    }
  }

  #finish(): void {
    const graph = this.#graph;
    const depth = this.#depth;
    const chains = this.#deepest.map((top) => {
      // Down the dependency whose depth is one less, each time.
      const chain = [top.name];
      let node = top;
      for (let d = depth.get(top) ?? 0; d > 0; d--) {
        const next = dependenciesOf(node).find((dep) => depth.get(dep as Entry) === d - 1) as
          Entry | undefined;
        if (next === undefined) break;
        chain.push(next.name);
        node = next;
      }
      return chain;
    });
    this.#result = {
      packages: graph.size,
      edges: graph.edgeCount,
      roots: graph.rootCount,
      leaves: graph.leafCount,
      maxDepth: this.#deepest.length > 0 ? (depth.get(this.#deepest[0]!) ?? 0) : 0,
      longestChains: chains,
      mostDependents: this.#hubs.map((e) => ({ name: e.name, dependents: e.dependents })),
      largestClosures: [...this.#closures].sort((a, b) => b.dependents - a.dependents),
      exact: this.#exact && graph.version === this.#version,
      work: this.#work,
    };
    this.#sort = null;
    depth.clear();
    this.#phase = Phase.DONE;
  }
}

/** Keeps `list` as the `top` largest by `key`, largest first. */
function keepTop(list: Entry[], entry: Entry, top: number, key: (e: Entry) => number): void {
  const k = key(entry);
  if (list.length === top && k <= key(list[top - 1]!)) return;
  let i = list.length < top ? list.length : top - 1;
  list[i] = entry;
  while (i > 0 && key(list[i - 1]!) < k) {
    list[i] = list[i - 1]!;
    list[i - 1] = entry;
    i--;
  }
}

/** A map from package to depth over VisitMarks: `get` is undefined for packages not measured. */
class DepthMarks {
  readonly #marks: VisitMarks;

  constructor(marks: VisitMarks) {
    this.#marks = marks;
    marks.begin();
  }

  get(node: PackageNode): number | undefined {
    return this.#marks.seen(node) ? this.#marks.value(node) : undefined;
  }

  set(node: PackageNode, depth: number): void {
    this.#marks.see(node);
    this.#marks.setValue(node, depth);
  }

  /** Forgets every depth. */
  clear(): void {
    this.#marks.begin();
  }
}
