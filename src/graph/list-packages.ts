/**
 * Listing indexed packages by name (bytewise), with prefix search and keyset pagination: a
 * page holds the packages after the previous page's last name, so a page never repeats or
 * skips a package, whatever was indexed or removed between pages (a package removed before
 * its page is not listed; one added after the cursor passed it is not either).
 */
import type { DependencyGraph } from './dependency-graph.js';
import { dependencyCount, type PackageNode } from './package-node.js';
import { pageLimit, type Page, type PageOptions } from './query-bounds.js';

export interface PackageSummary {
  readonly name: string;
  /** How many packages it depends on directly. */
  readonly dependencies: number;
  /** How many packages depend on it directly. */
  readonly dependents: number;
}

export interface ListOptions extends PageOptions {
  /** Only names that start with this (default: all). */
  readonly prefix?: string;
  /** Most names looked at, removed ones included (default 20 × the limit, at least 10,000). */
  readonly maxScan?: number;
  /** Units of upkeep of the sorted view before listing (default 50,000; see sorted-names.ts). */
  readonly upkeep?: number;
}

export interface ListPage extends Page<PackageSummary> {
  /**
   * False while the sorted view is still being built or sorted (the first listing after a
   * start, or after a large import): no items, `next` is the cursor to retry with.
   */
  readonly ready: boolean;
}

/** Indexed packages by name. */
export function listPackages(graph: DependencyGraph, options: ListOptions = {}): ListPage {
  return list(graph, options, () => true);
}

/** Packages nothing depends on (`brew leaves`), by name. */
export function listLeaves(graph: DependencyGraph, options: ListOptions = {}): ListPage {
  return list(graph, options, (node) => node.dependents === 0);
}

/** Packages that depend on nothing, by name. */
export function listRoots(graph: DependencyGraph, options: ListOptions = {}): ListPage {
  return list(graph, options, (node) => dependencyCount(node) === 0);
}

export function summary(node: PackageNode): PackageSummary {
  return { name: node.name, dependencies: dependencyCount(node), dependents: node.dependents };
}

function list(graph: DependencyGraph, options: ListOptions, keep: (node: PackageNode) => boolean): ListPage {
  const limit = pageLimit(options);
  const view = graph.sortedNames();
  if (!view.maintain(options.upkeep ?? 50_000)) return { items: [], next: options.after ?? '', ready: false };
  const items: PackageSummary[] = [];
  const maxScan = options.maxScan ?? Math.max(10_000, 20 * limit);
  const { last, exhausted } = view.scan(options.after, options.prefix ?? '', maxScan, (name) => {
    const node = graph.node(name)!;
    if (keep(node)) items.push(summary(node));
    return items.length < limit;
  });
  return { items, next: exhausted ? null : (last ?? options.after ?? ''), ready: true };
}
