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
import type { Entry } from './package-node.js';
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

/** How many units each search runs before the other gets its turn. */
const QUANTUM = 64;

/**
 * A depth-first search from one package, up (dependents) or down (dependencies), resumable.
 * It visits the affected region first, then goes on beyond it: a finished region is what PK
 * needs; a finished whole closure can move on its own to the top or the bottom of the order.
 */
class ClosureSearch {
  /** Packages taken in inside the region, the start first. */
  readonly region: Entry[];
  /** Packages taken in beyond the region. */
  readonly beyond: Entry[] = [];
  /** True once the region is searched. */
  regionDone = false;
  /** True once the whole closure is searched. */
  done = false;
  /** True once the search reached a package of the other search: a cycle. */
  met = false;
  readonly #regionStack: Entry[];
  readonly #beyondStack: Entry[] = [];
  #current: Entry | null = null;
  #at = 0;
  #iterator: Iterator<Entry> | null = null;

  constructor(
    private readonly up: boolean,
    private readonly mark: number,
    private readonly otherMark: number,
    /** Up: the region is `ord < bound`; down: `ord > bound`. */
    private readonly bound: number,
    start: Entry,
  ) {
    start.mark = mark;
    this.region = [start];
    this.#regionStack = [start];
  }

  /** Runs for about `budget` units; returns the units spent. */
  step(budget: number): number {
    let work = 0;
    while (work < budget) {
      let current = this.#current;
      if (current === null) {
        let next = this.#regionStack.pop();
        if (next === undefined) {
          this.regionDone = true;
          next = this.#beyondStack.pop();
          if (next === undefined) {
            this.done = true;
            return work;
          }
        }
        current = this.#current = next;
        this.#at = 0;
        const users = next.users;
        this.#iterator = this.up && !Array.isArray(users) ? users.values() : null;
        work++;
      }
      const iterator = this.#iterator;
      if (iterator !== null) {
        while (work < budget) {
          const r = iterator.next();
          if (r.done === true) {
            this.#current = null;
            break;
          }
          work++;
          if (this.#visit(r.value)) return work;
        }
      } else {
        const neighbours = this.up ? (current.users as Entry[]) : current.deps;
        const count = this.up ? current.dependents : neighbours.length;
        let at = this.#at;
        while (at < count && work < budget) {
          work++;
          if (this.#visit(neighbours[at++]!)) return work;
        }
        this.#at = at;
        if (at === count) this.#current = null;
      }
      if (this.#current === null && this.#regionStack.length === 0) this.regionDone = true;
    }
    return work;
  }

  /** Takes `w` in if it is new; true when it belongs to the other search. */
  #visit(w: Entry): boolean {
    if (w.mark === this.mark) return false;
    if (w.mark === this.otherMark) {
      this.met = true;
      this.done = true;
      return true;
    }
    w.mark = this.mark;
    // Only a package of the region leads to others in it: the order only goes one way.
    if (this.up ? w.ord < this.bound : w.ord > this.bound) {
      this.#regionStack.push(w);
      this.region.push(w);
    } else {
      this.#beyondStack.push(w);
      this.beyond.push(w);
    }
    return false;
  }
}

const Plan = { TOP: 0, BOTTOM: 1, POOL: 2 } as const;
type Plan = (typeof Plan)[keyof typeof Plan];

/**
 * Inserting the new edges `node → deps[i]` into the order, one edge at a time: either one of
 * them closes a cycle (nothing else changes but positions, which stay a valid order of the
 * graph without the new edges), or all of them end up pointing down the order. The caller
 * adds the edges to the graph after `ACYCLIC`; the graph must not change while this runs.
 */
export class OrderUpdate {
  readonly #space: OrderSpace;
  readonly #node: Entry;
  readonly #deps: readonly Entry[];
  #next = 0;
  #up: ClosureSearch | null = null;
  #down: ClosureSearch | null = null;
  #plan: Plan | null = null;
  #sortUp: OrdSort | null = null;
  #sortDown: OrdSort | null = null;
  #moved = 0;
  /** The dependency whose edge was found to close a cycle. */
  cycleVia: Entry | null = null;
  /** Units of work spent so far. */
  work = 0;

  constructor(space: OrderSpace, node: Entry, deps: readonly Entry[]) {
    this.#space = space;
    this.#node = node;
    this.#deps = deps;
  }

  /** Works for about `budget` units. PENDING: call again (nothing else may change the graph). */
  run(budget: number): Verdict {
    const start = this.work;
    const left = (): number => budget - (this.work - start);
    for (;;) {
      if (this.#plan !== null) {
        if (!this.#reorder(left())) return Verdict.PENDING;
        continue;
      }
      if (this.#up === null) {
        const node = this.#node;
        const deps = this.#deps;
        while (this.#next < deps.length && deps[this.#next]!.ord < node.ord) this.#next++;
        this.work += 1;
        if (this.#next === deps.length) return Verdict.ACYCLIC;
        if (node.dependents === 0) {
          // Nothing depends on it: above everything, it is below none of its dependencies.
          node.ord = this.#space.top++;
          return Verdict.ACYCLIC;
        }
        const dep = deps[this.#next]!;
        const upMark = ++this.#space.epoch;
        const downMark = ++this.#space.epoch;
        this.#up = new ClosureSearch(true, upMark, downMark, dep.ord, node);
        this.#down = new ClosureSearch(false, downMark, upMark, node.ord, dep);
      }
      if (left() <= 0) return Verdict.PENDING;
      const up = this.#up;
      const down = this.#down!;
      while (this.#plan === null) {
        if (left() <= 0) return Verdict.PENDING;
        if (!up.done) this.work += up.step(Math.min(QUANTUM, left()));
        if (!down.done && !up.met) this.work += down.step(Math.min(QUANTUM, left()));
        if (up.met || down.met) {
          this.cycleVia = this.#deps[this.#next]!;
          this.#up = this.#down = null;
          return Verdict.CYCLE;
        }
        if (up.done) this.#plan = Plan.TOP;
        else if (down.done) this.#plan = Plan.BOTTOM;
        else if (up.regionDone && down.regionDone) this.#plan = Plan.POOL;
      }
      const whole = this.#plan !== Plan.POOL;
      if (this.#plan !== Plan.BOTTOM)
        this.#sortUp = new OrdSort(whole ? up.region.concat(up.beyond) : up.region);
      if (this.#plan !== Plan.TOP)
        this.#sortDown = new OrdSort(whole ? down.region.concat(down.beyond) : down.region);
    }
  }

  /** Sorts and reassigns positions; true when done with this edge. */
  #reorder(budget: number): boolean {
    let spent = 0;
    for (const sort of [this.#sortUp, this.#sortDown]) {
      if (sort === null) continue;
      const work = sort.step(budget - spent);
      spent += work;
      this.work += work;
      if (!sort.done) return false;
    }
    const space = this.#space;
    const up = this.#sortUp?.result ?? [];
    const down = this.#sortDown?.result ?? [];
    // Assignment is not split, so the order is valid between any two calls (the caller may
    // give up at any time): it writes one or two numbers per package that the searches and
    // the sort already paid several units for.
    if (this.#plan === Plan.TOP) for (const e of up) e.ord = space.top++;
    else if (this.#plan === Plan.BOTTOM)
      for (let i = down.length - 1; i >= 0; i--) down[i]!.ord = space.bottom--;
    else {
      // The positions the moved packages held, merged in order: the downward set takes the
      // lower ones, the upward set the rest.
      const pool: number[] = [];
      let i = 0;
      let j = 0;
      while (i < down.length || j < up.length)
        pool.push(
          j >= up.length || (i < down.length && down[i]!.ord < up[j]!.ord) ? down[i++]!.ord : up[j++]!.ord,
        );
      let k = 0;
      for (const e of down) e.ord = pool[k++]!;
      for (const e of up) e.ord = pool[k++]!;
      this.work += pool.length;
    }
    this.work += up.length + down.length;
    this.#moved += up.length + down.length;
    this.#plan = null;
    this.#sortUp = this.#sortDown = null;
    this.#up = this.#down = null;
    this.#next++;
    return true;
  }

  /** Packages moved so far (for the benchmark). */
  get moved(): number {
    return this.#moved;
  }
}
