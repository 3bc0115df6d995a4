/**
 * The indexed names in bytewise order, for listing with prefix search and keyset pagination,
 * at a cost the protocol's hot path does not notice.
 *
 * A log-structured view: sorted runs plus an unsorted tail of recent additions. Adding a
 * package pushes its name on the tail; removing one only counts (the name stays in its run
 * until a merge drops it, and readers skip names no longer indexed). Everything else (cutting
 * the tail into sorted runs, merging runs so there are O(log n) of them, dropping removed
 * names) is upkeep done in bounded steps by `maintain()`, which listing calls first.
 *
 * The view exists only once asked for (see `DependencyGraph.sortedNames()`); until then the
 * graph does nothing for it. Built in steps from the graph's names, it is not `ready` until
 * every name has been read. A view that nobody reads while a huge tail piles up goes dormant
 * (`added()` returns false, the graph drops it) and is built again on the next read.
 *
 * Names compare by UTF-16 code units, which for the protocol's names (ASCII) is bytewise.
 */
import { createError } from '../errors.js';

/** Names sorted per run, and merged, this many at a time at most. */
const CHUNK = 4096;
/** Tail length past which an unread view goes dormant, at least. */
const DORMANT_AFTER = 1 << 17;

/** An incremental merge of `runs[at]` with `runs[at + 1]`, or of `runs[at]` alone (dropping removed names). */
interface Merge {
  readonly at: number;
  readonly single: boolean;
  readonly a: readonly string[];
  readonly b: readonly string[];
  i: number;
  j: number;
  readonly out: string[];
}

/** The names a view lists (a `Map`'s keys will do): the graph gives those it indexes. */
export interface NameSet {
  readonly size: number;
  has(name: string): boolean;
  keys(): IterableIterator<string>;
}

export class SortedNames {
  readonly #live: NameSet;
  #runs: string[][] = [];
  #tail: string[] = [];
  #build: Iterator<string> | null;
  #merge: Merge | null = null;
  /** Removals since every run was last rewritten: a bound on the removed names runs still hold. */
  #removed = 0;
  #compacting = false;

  /** `live` is the graph's names: the view reads them and tests membership. */
  constructor(live: NameSet) {
    this.#live = live;
    this.#build = live.keys();
  }

  /** Called by the graph for each package added; false when the view went dormant. */
  added(name: string): boolean {
    const tail = this.#tail;
    tail.push(name);
    return tail.length < DORMANT_AFTER || tail.length < this.#live.size >> 1;
  }

  /** Called by the graph for each package removed. */
  removed(): void {
    this.#removed++;
  }

  /** True when every indexed name is in a run or in a tail short enough to sort for a read. */
  get ready(): boolean {
    return this.#build === null && this.#tail.length <= CHUNK;
  }

  /** Names held in runs and tail, removed ones and repeats included (for the benchmark). */
  get held(): number {
    let n = this.#tail.length;
    for (const run of this.#runs) n += run.length;
    return n;
  }

  /** Runs the upkeep for about `budget` units (a name moved or compared); true when `ready`. */
  maintain(budget: number): boolean {
    let work = 0;
    while (work < budget) {
      if (this.#merge !== null) work += this.#stepMerge(budget - work);
      else if (this.#build !== null) work += this.#buildRun(this.#build);
      else if (this.#tail.length >= CHUNK) work += this.#cut();
      else if (!this.#startMerge()) break;
    }
    return this.ready;
  }

  /**
   * Calls `visit` with each indexed name after `after` (exclusive) that starts with `prefix`,
   * ascending, until it returns false, the names run out, or `maxScan` names were looked at
   * (removed ones included). Requires `ready`. Returns the last name looked at, and whether
   * the names ran out.
   */
  scan(
    after: string | undefined,
    prefix: string,
    maxScan: number,
    visit: (name: string) => boolean,
  ): { readonly last: string | undefined; readonly exhausted: boolean } {
    if (!this.ready) throw createError('E_INTERNAL', 'SortedNames.scan() before the view is ready');
    if (this.#tail.length > 0) this.#cut();
    const runs = this.#runs;
    const from = after !== undefined && after >= prefix ? after : undefined;
    const heads = runs.map((run) => (from !== undefined ? upperBound(run, from) : lowerBound(run, prefix)));
    const live = this.#live;
    let last: string | undefined;
    let scanned = 0;
    for (;;) {
      let best = -1;
      let name = '';
      for (let r = 0; r < runs.length; r++) {
        const run = runs[r]!;
        const h = heads[r]!;
        if (h < run.length && (best === -1 || run[h]! < name)) {
          best = r;
          name = run[h]!;
        }
      }
      if (best === -1 || !name.startsWith(prefix)) return { last, exhausted: true };
      heads[best]!++;
      if (name === last) continue;
      if (scanned === maxScan) return { last, exhausted: false };
      scanned++;
      last = name;
      if (live.has(name) && !visit(name)) return { last, exhausted: false };
    }
  }

  /** Reads up to CHUNK of the graph's names into a new run. */
  #buildRun(build: Iterator<string>): number {
    const piece: string[] = [];
    while (piece.length < CHUNK) {
      const r = build.next();
      if (r.done === true) {
        this.#build = null;
        break;
      }
      piece.push(r.value);
    }
    return piece.length + this.#addRun(piece);
  }

  /** Sorts up to CHUNK names of the tail into a new run. */
  #cut(): number {
    const tail = this.#tail;
    const piece = tail.length <= CHUNK ? tail : tail.splice(tail.length - CHUNK, CHUNK);
    if (piece === tail) this.#tail = [];
    return this.#addRun(piece);
  }

  #addRun(piece: string[]): number {
    if (piece.length === 0) return 1;
    piece.sort();
    let k = 0;
    for (let i = 0; i < piece.length; i++) if (k === 0 || piece[i] !== piece[k - 1]) piece[k++] = piece[i]!;
    piece.length = k;
    this.#runs.push(piece);
    // A sort's comparisons, roughly: log2(CHUNK) per name.
    return piece.length * 12;
  }

  /** Starts the next merge, if any is due; false when none is. */
  #startMerge(): boolean {
    const runs = this.#runs;
    const n = runs.length;
    if (!this.#compacting && this.#removed > this.#live.size >> 1 && this.#build === null) {
      this.#compacting = true;
      this.#removed = 0;
    }
    let at = -1;
    if (this.#compacting) {
      if (n === 0) this.#compacting = false;
      else at = n - (n >= 2 ? 2 : 1);
    } else {
      // Runs shrink at least by half from oldest to newest: O(log n) of them.
      for (let r = n - 2; r >= 0; r--) if (runs[r]!.length <= 2 * runs[r + 1]!.length) at = r;
    }
    if (at === -1) return false;
    const single = at === n - 1;
    this.#merge = { at, single, a: runs[at]!, b: single ? [] : runs[at + 1]!, i: 0, j: 0, out: [] };
    return true;
  }

  #stepMerge(budget: number): number {
    const m = this.#merge!;
    const { a, b, out } = m;
    const live = this.#live;
    let { i, j } = m;
    let work = 0;
    while (work < budget && (i < a.length || j < b.length)) {
      const name = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
      work++;
      if ((out.length === 0 || out[out.length - 1] !== name) && live.has(name)) out.push(name);
    }
    m.i = i;
    m.j = j;
    if (i === a.length && j === b.length) {
      if (out.length > 0) this.#runs.splice(m.at, m.single ? 1 : 2, out);
      else this.#runs.splice(m.at, m.single ? 1 : 2);
      this.#merge = null;
      if (this.#compacting && m.single) this.#compacting = false;
    }
    return work;
  }

  /** Problems with the view (tests): a run out of order, or an indexed name it does not hold. */
  verify(): string[] {
    const problems: string[] = [];
    const held = new Set<string>(this.#tail);
    for (const [r, run] of this.#runs.entries()) {
      for (let i = 0; i < run.length; i++) {
        if (i > 0 && !(run[i - 1]! < run[i]!)) problems.push(`run ${r} is out of order at ${i}`);
        held.add(run[i]!);
      }
    }
    if (this.#build === null)
      for (const name of this.#live.keys())
        if (!held.has(name)) problems.push(`${name} is not in the sorted view`);
    return problems;
  }
}

/** First position in `run` whose name is >= `key`. */
function lowerBound(run: readonly string[], key: string): number {
  return bound(run, (name) => name < key);
}

/** First position in `run` whose name is > `key`. */
function upperBound(run: readonly string[], key: string): number {
  return bound(run, (name) => name <= key);
}

/** First position in the sorted `run` where `before` turns false. */
function bound(run: readonly string[], before: (name: string) => boolean): number {
  let lo = 0;
  let hi = run.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(run[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
