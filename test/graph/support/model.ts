/**
 * The index's rules written naively, for property tests: a map of sets, a full search for
 * cycles, a full scan for dependents. Every answer is computed from scratch.
 */
import { IndexOutcome, RemoveOutcome } from '../../../src/graph/dependency-graph.js';

export class ModelIndex {
  readonly deps = new Map<string, Set<string>>();

  index(name: string, deps: readonly string[]): IndexOutcome {
    if (!deps.every((d) => this.deps.has(d))) return IndexOutcome.MISSING_DEPENDENCY;
    const wanted = new Set(deps);
    const before = this.deps.get(name);
    if (before === undefined) {
      this.deps.set(name, wanted);
      return IndexOutcome.ADDED;
    }
    if (before.size === wanted.size && [...wanted].every((d) => before.has(d))) return IndexOutcome.UNCHANGED;
    if ([...wanted].some((d) => this.reaches(d, name))) return IndexOutcome.CYCLE;
    this.deps.set(name, wanted);
    return IndexOutcome.REPLACED;
  }

  remove(name: string): RemoveOutcome {
    if (!this.deps.has(name)) return RemoveOutcome.ABSENT;
    if (this.dependents(name).length > 0) return RemoveOutcome.REQUIRED;
    this.deps.delete(name);
    return RemoveOutcome.REMOVED;
  }

  /** True when `to` is `from` or one of its transitive dependencies. */
  reaches(from: string, to: string): boolean {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n === to) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...this.deps.get(n)!);
    }
    return false;
  }

  /** The packages that list `name`, sorted. */
  dependents(name: string): string[] {
    return [...this.deps]
      .filter(([, ds]) => ds.has(name))
      .map(([n]) => n)
      .sort(bytewise);
  }

  /** Every package `name` depends on, transitively, without itself; sorted. */
  closure(name: string): string[] {
    const out = new Set<string>();
    const stack = [...this.deps.get(name)!];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (out.has(n)) continue;
      out.add(n);
      stack.push(...this.deps.get(n)!);
    }
    return [...out].sort(bytewise);
  }

  /** Every package that depends on `name`, transitively, without itself; sorted. */
  reverseClosure(name: string): string[] {
    return [...this.deps.keys()].filter((n) => n !== name && this.reaches(n, name)).sort(bytewise);
  }

  /** The number of edges on the longest dependency chain from `name` down (0 for a root). */
  depth(name: string): number {
    let best = 0;
    for (const d of this.deps.get(name)!) best = Math.max(best, 1 + this.depth(d));
    return best;
  }

  /** The number of edges on the longest chain of dependents above `name` (0 for a leaf). */
  height(name: string): number {
    let best = 0;
    for (const u of this.dependents(name)) best = Math.max(best, 1 + this.height(u));
    return best;
  }

  names(): string[] {
    return [...this.deps.keys()].sort(bytewise);
  }
}

export function bytewise(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
