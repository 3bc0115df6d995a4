import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { importsOf } from './imports.js';

/** One import between two files of src/, as paths relative to src/ (`server/server.ts`). */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
}

/** The layer a file of src/ belongs to: its top folder (`server/`), or itself at the top (`errors.ts`). */
export function layerOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? file : file.slice(0, slash + 1);
}

function sourceFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path, base);
    return entry.name.endsWith('.ts') ? [relative(base, path)] : [];
  });
}

/** Every import from one file of `srcDir` to another (packages and node: modules are left out). */
export function importEdges(srcDir: string): ImportEdge[] {
  return sourceFiles(srcDir).flatMap((from) =>
    importsOf(readFileSync(join(srcDir, from), 'utf8'))
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => ({ from, to: normalize(join(dirname(from), specifier)).replace(/\.js$/, '.ts') })),
  );
}

/** For each layer, what it may import: layers (`store/`, `errors.ts`) or single files (`store/store.ts`). */
export type LayerRules = ReadonlyMap<string, readonly string[]>;

/**
 * Reads the rules from the table between `<!-- layers:begin -->` and `<!-- layers:end -->` in
 * docs/architecture.md: one row per layer, its name in the first cell and what it may import,
 * each in backticks, in the second ("nothing" for none).
 */
export function parseLayerRules(markdown: string): LayerRules {
  const begin = markdown.indexOf('<!-- layers:begin -->');
  const end = markdown.indexOf('<!-- layers:end -->');
  if (begin < 0 || end < begin) throw new Error('no <!-- layers:begin --> ... <!-- layers:end --> table');
  const rules = new Map<string, string[]>();
  for (const line of markdown.slice(begin, end).split('\n')) {
    const cells = line.split('|').slice(1, -1);
    if (cells.length < 2) continue;
    const [layers, allowed] = cells.map((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
    for (const layer of layers ?? []) rules.set(layer, allowed ?? []);
  }
  return rules;
}

/** Imports the rules do not allow, one sentence each. */
export function ruleViolations(edges: readonly ImportEdge[], rules: LayerRules): string[] {
  const found = new Set<string>();
  for (const { from, to } of edges) {
    const source = layerOf(from);
    const target = layerOf(to);
    if (source === target) continue;
    const allowed = rules.get(source);
    if (allowed === undefined)
      found.add(`${source} has no row in the layer table (imported by way of ${from})`);
    else if (!allowed.includes(target) && !allowed.includes(to))
      found.add(`${from} imports ${to}, but ${source} may import only ${allowed.join(', ') || 'nothing'}`);
  }
  return [...found];
}

/** Each cycle among layers (a strongly connected component of more than one), as its layers. */
export function layerCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const [a, b] = [layerOf(from), layerOf(to)];
    if (!next.has(a)) next.set(a, new Set());
    if (!next.has(b)) next.set(b, new Set());
    if (a !== b) next.get(a)!.add(b);
  }
  // Tarjan's algorithm; the graph has a dozen nodes, so recursion is fine.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      component.push(w);
    } while (w !== v);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}
