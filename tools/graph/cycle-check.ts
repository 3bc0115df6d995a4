/**
 * The cost of cycle checks (issue 12), the previous algorithm against this one in the same run:
 * per re-INDEX that needs a check, on long chains (the attack: INDEX|q0|q<last> again and again),
 * on wide DAGs, on Debian's archive and on the Homebrew list, with random new dependency lists.
 * Prints tables for docs/performance.md. Not a test: nothing is asserted but that both agree.
 *
 *   npm run build
 *   git archive main | tar -x -C /tmp/pkgindex-main && ln -s "$PWD/node_modules" /tmp/pkgindex-main/ \
 *     && (cd /tmp/pkgindex-main && npm run build)
 *   node --expose-gc dist/tools/measure.js cycle-check --baseline /tmp/pkgindex-main/dist \
 *     [--dist dist] [--only chain,wide,debian,brew] [--sizes 100000,1000000] [--ops 3000] [--budget 20000]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as GraphModule from '../../src/graph/dependency-graph.js';
import { prng } from '../../src/bench/workload.js';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { parseBrew } from '../../src/import/brew.js';
import { parseDebian } from '../../src/import/debian.js';
import { planImport, type SourcePackage } from '../../src/import/plan.js';

export const usage = `The cost of cycle checks (issue 12), the previous algorithm against this one in the same run:
per re-INDEX that needs a check, on long chains (the attack: INDEX|q0|q<last> again and again),
on wide DAGs, on Debian's archive and on the Homebrew list, with random new dependency lists.
Prints tables for docs/performance.md. Not a test: nothing is asserted but that both agree.

  npm run build
  git archive main | tar -x -C /tmp/pkgindex-main && ln -s "$PWD/node_modules" /tmp/pkgindex-main/ \
    && (cd /tmp/pkgindex-main && npm run build)
  node --expose-gc dist/tools/measure.js cycle-check --baseline /tmp/pkgindex-main/dist \
    [--dist dist] [--only chain,wide,debian,brew] [--sizes 100000,1000000] [--ops 3000] [--budget 20000]
`;

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      baseline: { type: 'string' },
      dist: { type: 'string', default: 'dist' },
      only: { type: 'string', default: 'chain,wide,debian,brew' },
      sizes: { type: 'string', default: '100000,1000000' },
      ops: { type: 'string', default: '3000' },
      budget: { type: 'string', default: '20000' },
      seed: { type: 'string', default: '1' },
    },
  });
  const OPS = Number(values.ops);
  const BUDGET = Number(values.budget);
  const only = new Set(values.only.split(','));

  type Graph = InstanceType<typeof GraphModule.DependencyGraph>;
  interface Impl {
    readonly label: string;
    readonly Graph: new () => Graph;
    /** Only this build has `indexWithin`/`lastWork`. */
    readonly bounded: boolean;
  }

  async function load(label: string, dir: string): Promise<Impl> {
    const url = pathToFileURL(resolve(dir, 'src/graph/dependency-graph.js')).href;
    const mod = (await import(url)) as typeof GraphModule;
    const bounded = typeof (mod.DependencyGraph.prototype as Partial<Graph>).indexWithin === 'function';
    return { label, Graph: mod.DependencyGraph, bounded };
  }

  const impls: Impl[] = [];
  if (values.baseline !== undefined) impls.push(await load('before', values.baseline));
  impls.push(await load('after', values.dist));

  type Op = readonly [name: string, deps: readonly string[]];

  interface Figures {
    readonly outcomes: Map<string, number>;
    readonly micros: Float64Array;
    readonly work: number[];
    /** Each call's duration when the checks run in slices of BUDGET units. */
    readonly sliceMs: number[];
  }

  function heapMiB(): string {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) return 'n/a';
    gc();
    return (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0);
  }

  interface BuildCost {
    readonly ms: number;
    readonly heap: string;
  }

  interface Built extends BuildCost {
    readonly graph: Graph;
  }

  function build(impl: Impl, packages: readonly Op[]): Built {
    const before = heapMiB();
    const started = performance.now();
    const graph = new impl.Graph();
    for (const [name, deps] of packages) graph.index(name, deps);
    const ms = performance.now() - started;
    const heap = heapMiB();
    return { graph, ms, heap: before === 'n/a' ? heap : `${Number(heap) - Number(before)}` };
  }

  /**
   * Runs `ops` one by one on a fresh index, timing each; the bounded build then runs them again
   * in slices on another fresh index (the first one released, so both see the same heap).
   */
  function measure(
    impl: Impl,
    packages: readonly Op[],
    ops: readonly Op[],
  ): { built: BuildCost; figures: Figures } {
    const built = build(impl, packages);
    const figures = runOps(impl, built.graph, ops);
    return { built: { ms: built.ms, heap: built.heap }, figures: slices(impl, packages, ops, figures) };
  }

  function runOps(impl: Impl, graph: Graph, ops: readonly Op[]): Figures {
    const outcomes = new Map<string, number>();
    const micros = new Float64Array(ops.length);
    const work: number[] = [];
    for (let i = 0; i < ops.length; i++) {
      const [name, deps] = ops[i]!;
      const t = performance.now();
      const outcome = graph.index(name, deps);
      micros[i] = (performance.now() - t) * 1000;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (impl.bounded) work.push(graph.lastWork);
    }
    return { outcomes, micros, work, sliceMs: [] };
  }

  /** The same lines on a fresh index (the previous one unreachable by now), in slices of BUDGET units. */
  function slices(impl: Impl, packages: readonly Op[], ops: readonly Op[], figures: Figures): Figures {
    if (impl.bounded) {
      heapMiB();
      const sliced = build(impl, packages).graph;
      for (const [name, deps] of ops) {
        let t = performance.now();
        let progress = sliced.indexWithin(name, deps, BUDGET);
        for (;;) {
          figures.sliceMs.push(performance.now() - t);
          if (progress !== 'pending') break;
          t = performance.now();
          progress = sliced.resumeIndex(BUDGET);
        }
      }
    }
    return figures;
  }

  function quantile(sorted: Float64Array, q: number): number {
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  }

  function fmt(us: number): string {
    return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(1)} µs`;
  }

  function row(scenario: string, impl: Impl, built: BuildCost, f: Figures): string {
    const sorted = f.micros.slice().sort();
    const total = sorted.reduce((a, b) => a + b, 0);
    const outcomes = [...f.outcomes].map(([k, v]) => `${k} ${v}`).join(', ');
    const work =
      f.work.length > 0
        ? `${(f.work.reduce((a, b) => a + b, 0) / f.work.length).toFixed(0)} / ${Math.max(...f.work)}`
        : '—';
    const slices = f.sliceMs.sort((a, b) => a - b);
    const slice =
      slices.length > 0
        ? `${quantile(Float64Array.from(slices), 0.99).toFixed(2)} / ${slices[slices.length - 1]!.toFixed(2)} ms (${slices.length})`
        : '—';
    return `| ${scenario} | ${impl.label} | ${Math.round(built.ms)} ms, ${built.heap} MiB | ${f.micros.length} (${outcomes}) | ${fmt(total / f.micros.length)} | ${fmt(quantile(sorted, 0.5))} | ${fmt(quantile(sorted, 0.99))} | ${fmt(sorted[sorted.length - 1]!)} | ${(total / 1000).toFixed(0)} ms | ${work} | ${slice} |`;
  }

  function header(): void {
    console.log(
      `\n| scenario | build | index built (time, heap) | re-INDEX lines (outcomes) | mean | p50 | p99 | max | total | work units mean / max | calls in slices of ${BUDGET} units: p99 / max (count) |`,
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  }

  /** Runs one scenario on every build; checks that every build answers alike. */
  function scenario(name: string, packages: readonly Op[], ops: readonly Op[]): void {
    let reference: string | undefined;
    for (const impl of impls) {
      const { built, figures } = measure(impl, packages, ops);
      console.log(row(name, impl, built, figures));
      const answers = [...figures.outcomes].sort().join();
      if (reference !== undefined && answers !== reference)
        console.log(`  (answers differ: ${reference} / ${answers})`);
      reference = answers;
    }
  }

  const random = prng(Number(values.seed));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

  function chain(n: number): Op[] {
    const out: Op[] = [['root', []]];
    for (let i = 0; i <= n; i++) out.push([`q${i}`, i === 0 ? [] : [`q${i - 1}`]]);
    return out;
  }

  if (only.has('chain')) {
    header();
    for (const n of values.sizes.split(',').map(Number)) {
      const packages = chain(n);
      const repeats = n >= 1_000_000 ? 100 : 300;
      const label = `${n.toLocaleString('en')} chain`;
      // The attack: each line would close a cycle through the whole chain.
      scenario(
        `${label}, INDEX\\|q0\\|q${n} ×${repeats}`,
        packages,
        Array.from({ length: repeats }, () => ['q0', [`q${n}`]]),
      );
      // A package in the middle gains, then loses, a dependency that is already below it.
      const mid = Math.floor(n / 2);
      scenario(
        `${label}, q${mid} gains and loses q0 ×${repeats}`,
        packages,
        Array.from({ length: repeats }, (_, i) => [
          `q${mid}`,
          i % 2 === 0 ? [`q${mid - 1}`, 'q0'] : [`q${mid - 1}`],
        ]),
      );
      // The bottom gains a fresh package that depends on an old one: moves that small closure.
      scenario(
        `${label}, q0 gains a new package on an old one ×${repeats}`,
        [...packages, ...Array.from({ length: repeats }, (_, i): Op => [`x${i}`, ['root']])],
        Array.from({ length: repeats }, (_, i) => ['q0', [`x${i}`]]),
      );
    }
  }

  if (only.has('wide')) {
    header();
    // A star: one package that 100,000 depend on, re-indexed with new dependencies.
    const star: Op[] = [['base', []]];
    for (let i = 0; i < 100_000; i++) star.push([`s${i}`, ['base']]);
    const extra = Array.from({ length: OPS }, (_, i): Op => [`fresh${i}`, []]);
    scenario(
      `star of 100,000, base gains a fresh package ×${OPS}`,
      [...star, ...extra],
      extra.map(([fresh]) => ['base', [fresh]]),
    );
    scenario(
      `star of 100,000, random leaf re-indexed with random leaves ×${OPS}`,
      star,
      Array.from({ length: OPS }, () => [
        `s${Math.floor(random() * 100_000)}`,
        ['base', `s${Math.floor(random() * 100_000)}`],
      ]),
    );
    // Layers: 100 of 1,000, each package on 3 of the layer below; random rewiring anywhere.
    const layers: Op[] = [];
    for (let l = 0; l < 100; l++)
      for (let w = 0; w < 1000; w++)
        layers.push([
          `l${l}-${w}`,
          l === 0 ? [] : [0, 1, 2].map(() => `l${l - 1}-${Math.floor(random() * 1000)}`),
        ]);
    const names = layers.map(([n]) => n);
    scenario(
      `100 layers of 1,000, random package, 3 random new dependencies ×${OPS}`,
      layers,
      Array.from({ length: OPS }, () => [pick(names), [pick(names), pick(names), pick(names)]]),
    );
  }

  /** Re-indexes random packages of an archive with 1–5 random packages of it as the new list. */
  function archive(label: string, order: readonly SourcePackage[]): void {
    header();
    const packages = order.map((p): Op => [p.name, p.deps]);
    const names = order.map((p) => p.name);
    scenario(
      `${label} (${order.length.toLocaleString('en')} packages), random package, 1–5 random dependencies ×${OPS}`,
      packages,
      Array.from({ length: OPS }, () => [
        pick(names),
        Array.from({ length: 1 + Math.floor(random() * 5) }, () => pick(names)),
      ]),
    );
    // Its own list plus one random package: the common case of a package gaining a dependency.
    const byName = new Map(order.map((p) => [p.name, p.deps]));
    scenario(
      `${label}, random package gains one random dependency ×${OPS}`,
      packages,
      Array.from({ length: OPS }, () => {
        const name = pick(names);
        return [name, [...byName.get(name)!, pick(names)]];
      }),
    );
  }

  if (only.has('debian')) {
    const dump = spawnSync('apt-cache', ['dumpavail'], { encoding: 'latin1', maxBuffer: 1 << 30 });
    if (dump.status !== 0)
      console.log(`\nDebian skipped: apt-cache dumpavail failed (${dump.stderr.trim()})`);
    else {
      const parsed = await parseDebian(dump.stdout.split('\n'));
      archive('Debian', planImport(parsed.packages, { breakCycles: true }).order);
    }
  }

  if (only.has('brew')) {
    const parsed = await parseBrew(readFileSync(defaultDataFile(), 'utf8').split('\n'));
    archive('Homebrew', planImport(parsed.packages, { breakCycles: true }).order);
  }
  return 0;
}
