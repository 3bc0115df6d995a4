/**
 * Incremental cycle detection by a dynamic topological order (Pearce and Kelly, "A dynamic
 * topological sort algorithm for directed acyclic graphs", ACM JEA 11, 2006).
 *
 * Every package has an `ord`, and every dependency has a smaller `ord` than its dependent.
 * A new edge `p → d` (p depends on d) with `d.ord < p.ord` already agrees with the order: no
 * cycle is possible, O(1). Otherwise only packages between the two in the order can be on a
 * cycle (the *affected region* `[p.ord, d.ord]`), and two searches confined to it decide:
 * - up from `p` along dependents, keeping packages with `ord < d.ord` (PK's δF);
 * - down from `d` along dependencies, keeping packages with `ord > p.ord` (PK's δB).
 * They meet exactly when `d` already (transitively) depends on `p`: the edge would close a
 * cycle. Otherwise PK reassigns the positions the two sets held, the downward set first, so
 * the new edge points down the order too; nothing outside the two sets moves.
 *
 * Each search, once done with the region, goes on beyond it, and the two run in lockstep:
 * the whole upward closure of `p` (every transitive dependent) can move above everything at
 * fresh positions (`top`) without looking at anything else, and the whole downward closure of
 * `d` below everything (`bottom`). Whichever of the three plans is ready first is taken, so
 * the work is about twice the least of: the region's share of both closures (PK), the
 * dependents of `p`, the dependencies of `d` (what the previous algorithm always walked).
 * A package nothing depends on simply moves to the top, in O(1).
 *
 * Work is counted in units (a package taken from a search stack, an edge looked at, an
 * element moved while sorting) and a call can stop after a budget of them and resume later,
 * as long as the graph does not change in between (the graph refuses to).
 */
import type { Entry, NodeTable } from './package-node.js';
import { OrdSort } from './ord-sort.js';

/** The far ends of the order, and the epoch of search marks; owned by one graph. */
export class OrderSpace {
  /** The next position above every package. */
  top = 0;
  /** The next position below every package. */
  bottom = -1;
  /** Marks equal to the current epoch are the current search's; bumped per search. */
  epoch = 0;

  /**
   * True when positions near the end of V8's small-integer range (31 bits with pointer
   * compression): past it, every package's field would become a boxed double. One operation
   * hands out at most one position per package, so the margin covers 16 million packages.
   */
  get crowded(): boolean {
    return this.top > LIMIT || this.bottom < -LIMIT;
  }

  /** True when search marks near the same limit. */
  get marksWorn(): boolean {
    return this.epoch > LIMIT;
  }
}

const LIMIT = 2 ** 30 - 2 ** 24;

export const Verdict = { ACYCLIC: 'acyclic', CYCLE: 'cycle', PENDING: 'pending' } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/**
 * How many units each search runs before the other gets its turn: doubling from the first,
 * so a closure of a few packages on one side ends the check after a few units on the other.
 */
const FIRST_QUANTUM = 4;
const MAX_QUANTUM = 256;

/** Scratch arrays longer than this are not kept for the next check. */
const KEEP = 1 << 16;

/** `stack`, emptied, or a new array if it grew large. (Setting `length` to 0 would drop its storage.) */
function emptied(stack: Entry[]): Entry[] {
  if (stack.length > KEEP) return [];
  while (stack.length > 0) stack.pop();
  return stack;
}

/**
 * A depth-first search from one package, up (dependents) or down (dependencies), resumable.
 * It searches the affected region first, then goes on beyond it: a finished region is what PK
 * needs; a finished whole closure can move on its own to the top or the bottom of the order.
 * It keeps no list of what it found (the marks say it), so a check that ends in a cycle costs
 * what the walk costs and no more; `Collect` gathers the packages when they must move. One
 * instance serves check after check, keeping its stacks.
 */
class ClosureSearch {
  /** True once the region is searched. */
  regionDone = false;
  /** True once the whole closure is searched. */
  done = false;
  /** True once the search reached a package of the other search: a cycle. */
  met = false;
  mark = 0;
  otherMark = 0;
  /** Up: the region is `ord < bound`; down: `ord > bound`. */
  bound = 0;
  start: Entry | null = null;
  #regionStack: Entry[] = [];
  #beyondStack: Entry[] = [];
  #current: Entry | null = null;
  #currentInRegion = true;
  #at = 0;

  constructor(
    readonly up: boolean,
    readonly table: NodeTable,
  ) {}

  reset(mark: number, otherMark: number, bound: number, start: Entry): void {
    this.regionDone = this.done = this.met = false;
    this.mark = mark;
    this.otherMark = otherMark;
    this.bound = bound;
    this.start = start;
    start.mark = mark;
    this.#regionStack = emptied(this.#regionStack);
    this.#beyondStack = emptied(this.#beyondStack);
    this.#regionStack.push(start);
    this.#current = null;
  }

  /** Runs for about `budget` units; returns the units spent. */
  step(budget: number): number {
    // The hot loop of a long check: state in locals, no call per edge.
    const { up, mark, otherMark, bound } = this;
    const regionStack = this.#regionStack;
    const beyondStack = this.#beyondStack;
    const byId = this.table.byId;
    const words = this.table.words;
    let current = this.#current;
    let inRegion = this.#currentInRegion;
    let at = this.#at;
    let work = 0;
    while (work < budget) {
      if (current === null) {
        current = regionStack.pop() ?? null;
        inRegion = current !== null;
        if (current === null) {
          this.regionDone = true;
          current = beyondStack.pop() ?? null;
          if (current === null) {
            this.done = true;
            break;
          }
        }
        at = 0;
        work++;
      }
      // Dependents are every other word from `users` up to twice the count.
      const users = current.users;
      const links = current.links;
      const count = up ? current.linkedUsers : links.length;
      const stop = Math.min(count, at + (budget - work));
      work += stop - at;
      for (; at < stop; at++) {
        const v = (up ? byId[words[users + 2 * at]!] : links[at]) as Entry;
        const m = v.mark;
        if (m === mark) continue;
        if (m === otherMark) {
          this.met = true;
          this.done = true;
          break;
        }
        v.mark = mark;
        // Only a package of the region leads to others in it: the order only goes one way.
        if (up ? v.ord < bound : v.ord > bound) regionStack.push(v);
        else beyondStack.push(v);
      }
      if (this.met) break;
      if (at === count) current = null;
    }
    this.#current = current;
    this.#currentInRegion = inRegion;
    this.#at = at;
    if (regionStack.length === 0 && (current === null || !inRegion)) this.regionDone = true;
    return work;
  }
}

/**
 * Gathers what a finished search found: the packages reachable from its start through
 * packages carrying its mark (inside the region only, for PK), re-marking them as it goes so
 * each is taken once, then sorts them by position. Resumable between packages.
 */
class Collect {
  #found: Entry[] = [];
  #stack: Entry[] = [];
  #search: ClosureSearch | null = null;
  #regionOnly = false;
  #taken = 0;
  collected = false;
  readonly sort = new OrdSort();

  reset(search: ClosureSearch, regionOnly: boolean, taken: number): void {
    this.#search = search;
    this.#regionOnly = regionOnly;
    this.#taken = taken;
    this.#found = emptied(this.#found);
    this.#stack = emptied(this.#stack);
    search.start!.mark = taken;
    this.#stack.push(search.start!);
    this.collected = false;
  }

  /** Gathers, then sorts, for about `budget` units; returns the units spent. */
  step(budget: number): number {
    let work = 0;
    if (!this.collected) {
      const { up, mark, bound, table } = this.#search!;
      const byId = table.byId;
      const words = table.words;
      const regionOnly = this.#regionOnly;
      const taken = this.#taken;
      const stack = this.#stack;
      const found = this.#found;
      while (work < budget) {
        const current = stack.pop();
        if (current === undefined) {
          this.collected = true;
          // Copied (in one go) only when small enough to keep reusing this array.
          if (found.length > KEEP) {
            this.sort.adopt(found);
            this.#found = [];
          } else this.sort.reset(found);
          work += found.length;
          break;
        }
        found.push(current);
        const users = current.users;
        const links = current.links;
        const count = up ? current.linkedUsers : links.length;
        work += 1 + count;
        for (let i = 0; i < count; i++) {
          const v = (up ? byId[words[users + 2 * i]!] : links[i]) as Entry;
          if (v.mark === mark && (!regionOnly || (up ? v.ord < bound : v.ord > bound))) {
            v.mark = taken;
            stack.push(v);
          }
        }
      }
    }
    if (this.collected && !this.sort.done) work += this.sort.step(budget - work);
    return work;
  }

  get done(): boolean {
    return this.collected && this.sort.done;
  }
}

const NONE: readonly Entry[] = [];

const Plan = { TOP: 0, BOTTOM: 1, POOL: 2 } as const;
type Plan = (typeof Plan)[keyof typeof Plan];

/**
 * Inserting the new edges `node → deps[i]` into the order, one edge at a time: either one of
 * them closes a cycle (nothing else changes but positions, which stay a valid order of the
 * graph without the new edges), or all of them end up pointing down the order. The caller
 * adds the edges to the graph after `ACYCLIC`; the graph must not change while this runs.
 * One instance per graph serves every check, keeping its scratch arrays (so a small check
 * allocates nothing).
 */
export class OrderUpdate {
  readonly #space: OrderSpace;
  #node: Entry | null = null;
  /** The new dependencies, `[0, #count)`. */
  #deps: Entry[] = [];
  #count = 0;
  #next = 0;
  readonly #up: ClosureSearch;
  readonly #down: ClosureSearch;
  #searching = false;
  #quantum = FIRST_QUANTUM;
  #plan: Plan | null = null;
  readonly #collectUp = new Collect();
  readonly #collectDown = new Collect();
  #moved = 0;
  /** Units of work spent so far on the current check. */
  work = 0;

  constructor(space: OrderSpace, table: NodeTable) {
    this.#space = space;
    this.#up = new ClosureSearch(true, table);
    this.#down = new ClosureSearch(false, table);
  }

  /** Starts a check of the edges from `node` to the entries of `deps` marked `added`. */
  start(node: Entry, deps: readonly Entry[], count: number, added: number): void {
    this.#node = node;
    const own = (this.#deps = emptied(this.#deps));
    for (let i = 0; i < count; i++) if (deps[i]!.mark === added) own.push(deps[i]!);
    this.#count = own.length;
    this.#next = 0;
    this.#searching = false;
    this.#plan = null;
    this.#moved = 0;
    this.work = 0;
  }

  /** Works for about `budget` units. PENDING: call again (nothing else may change the graph). */
  run(budget: number): Verdict {
    const end = this.work + budget;
    const up = this.#up;
    const down = this.#down;
    for (;;) {
      if (this.#plan !== null) {
        if (!this.#reorder(end)) return Verdict.PENDING;
        continue;
      }
      if (!this.#searching) {
        const node = this.#node!;
        const deps = this.#deps;
        while (this.#next < this.#count && deps[this.#next]!.ord < node.ord) this.#next++;
        this.work += 1;
        if (this.#next === this.#count) return this.#finish(Verdict.ACYCLIC);
        if (node.linkedUsers === 0) {
          // No dependent in the pool (none, or packages nothing depends on, which may sit
          // anywhere in the order, see DependencyGraph): above everything, it is below none of
          // its dependencies, and no path leads back to it.
          node.ord = this.#space.top++;
          return this.#finish(Verdict.ACYCLIC);
        }
        const dep = deps[this.#next]!;
        const upMark = ++this.#space.epoch;
        const downMark = ++this.#space.epoch;
        up.reset(upMark, downMark, dep.ord, node);
        down.reset(downMark, upMark, node.ord, dep);
        this.#quantum = FIRST_QUANTUM;
        this.#searching = true;
      }
      while (this.#plan === null) {
        if (this.work >= end) return Verdict.PENDING;
        const quantum = this.#quantum;
        if (quantum < MAX_QUANTUM) this.#quantum = 2 * quantum;
        if (!up.done) this.work += up.step(Math.min(quantum, end - this.work));
        if (!down.done && !up.met) this.work += down.step(Math.min(quantum, end - this.work));
        if (up.met || down.met) return this.#finish(Verdict.CYCLE);
        if (up.done) this.#plan = Plan.TOP;
        else if (down.done) this.#plan = Plan.BOTTOM;
        else if (up.regionDone && down.regionDone) this.#plan = Plan.POOL;
      }
      const pool = this.#plan === Plan.POOL;
      const taken = ++this.#space.epoch;
      if (this.#plan !== Plan.BOTTOM) this.#collectUp.reset(up, pool, taken);
      if (this.#plan !== Plan.TOP) this.#collectDown.reset(down, pool, taken);
    }
  }

  /** Drops the current check; positions already reassigned stay (they are a valid order). */
  cancel(): void {
    this.#finish(Verdict.CYCLE);
  }

  #finish(verdict: Verdict): Verdict {
    this.#searching = false;
    this.#plan = null;
    this.#node = null;
    this.#deps = emptied(this.#deps);
    return verdict;
  }

  /** Gathers, sorts and reassigns positions, up to the work count `end`; true when done with this edge. */
  #reorder(end: number): boolean {
    const plan = this.#plan;
    const upCollect = plan === Plan.BOTTOM ? null : this.#collectUp;
    const downCollect = plan === Plan.TOP ? null : this.#collectDown;
    // Each step is nothing once that side is done.
    if (upCollect !== null) {
      this.work += upCollect.step(end - this.work);
      if (!upCollect.done) return false;
    }
    if (downCollect !== null) {
      this.work += downCollect.step(end - this.work);
      if (!downCollect.done) return false;
    }
    const space = this.#space;
    const up = upCollect?.sort.result ?? NONE;
    const nUp = upCollect?.sort.length ?? 0;
    const down = downCollect?.sort.result ?? NONE;
    const nDown = downCollect?.sort.length ?? 0;
    // Assignment is not split, so the order is valid between any two calls (the caller may
    // give up at any time): it writes one or two numbers per package that the searches, the
    // gathering and the sort already paid several units for.
    if (plan === Plan.TOP) for (let i = 0; i < nUp; i++) up[i]!.ord = space.top++;
    else if (plan === Plan.BOTTOM) for (let i = nDown - 1; i >= 0; i--) down[i]!.ord = space.bottom--;
    else {
      // The positions the moved packages held, merged in order: the downward set takes the
      // lower ones, the upward set the rest.
      const pool: number[] = [];
      let i = 0;
      let j = 0;
      while (i < nDown || j < nUp)
        pool.push(j >= nUp || (i < nDown && down[i]!.ord < up[j]!.ord) ? down[i++]!.ord : up[j++]!.ord);
      let k = 0;
      for (i = 0; i < nDown; i++) down[i]!.ord = pool[k++]!;
      for (j = 0; j < nUp; j++) up[j]!.ord = pool[k++]!;
      this.work += pool.length;
    }
    this.work += nUp + nDown;
    this.#moved += nUp + nDown;
    this.#plan = null;
    this.#searching = false;
    this.#next++;
    return true;
  }

  /** Packages moved so far by the current check (for the benchmark). */
  get moved(): number {
    return this.#moved;
  }
}
