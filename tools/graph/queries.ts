/**
 * What the query API's pure part costs (issue 15): the sorted name view's price on INDEX/REMOVE,
 * a page of names, the largest closures of Debian's archive, and the survey of the whole index.
 * Prints tables for docs/performance.md. Not a test.
 *
 *   npm run build && node --expose-gc dist/tools/measure.js query [--dist dist] [--packages 1000000]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as GraphModule from '../../src/graph/dependency-graph.js';
import type * as QueryModule from '../../src/graph/queries.js';
import { buildScript, parseDataFile, planWorkload, parseMix } from '../../src/bench/workload.js';
import { defaultDataFile } from '../../src/bench/data-set.js';
import { parseDebian } from '../../src/import/debian.js';
import { planImport } from '../../src/import/plan.js';

export const usage = `What the query API's pure part costs (issue 15): the sorted name view's price on INDEX/REMOVE,
a page of names, the largest closures of Debian's archive, and the survey of the whole index.
Prints tables for docs/performance.md. Not a test.

  npm run build && node --expose-gc dist/tools/measure.js query [--dist dist] [--packages 1000000]
`;

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      dist: { type: 'string', default: 'dist' },
      packages: { type: 'string', default: '1000000' },
    },
  });
  const base = pathToFileURL(resolve(values.dist, 'src/graph')).href;
  const { DependencyGraph } = (await import(`${base}/dependency-graph.js`)) as typeof GraphModule;
  const q = (await import(`${base}/queries.js`)) as typeof QueryModule;
  type Graph = InstanceType<typeof DependencyGraph>;

  /** Min over rounds of the mean time of `fn`, in µs. */
  function time(fn: () => unknown, { rounds = 5, repeat = 1 } = {}): number {
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      for (let i = 0; i < repeat; i++) fn();
      best = Math.min(best, ((performance.now() - t) * 1000) / repeat);
    }
    return best;
  }

  function fmt(us: number): string {
    return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`;
  }

  // 1. The view's price on the hot path: the benchmark's mutations, with and without a view.
  {
    const plan = planWorkload(parseDataFile(readFileSync(defaultDataFile(), 'utf8')), 1);
    const script = buildScript(plan, parseMix('index=50,remove=50'), 1, 65_536);
    const lines: [string, string, string[]][] = [];
    for (let i = 0; i < script.length; i++) {
      const [verb, name, deps] = Buffer.from(
        script.bytes.subarray(script.offsets[i], script.offsets[i + 1]! - 1),
      )
        .toString('latin1')
        .split('|') as [string, string, string];
      lines.push([verb, name, deps === '' ? [] : deps.split(',')]);
    }
    /** ns per command of the replay, min of 5 rounds; with a view, a listing between chunks of 1,000 (not timed). */
    const measure = (withView: boolean): number => {
      const g = new DependencyGraph();
      for (const s of plan.warmup) g.index(s.name, s.deps);
      if (withView) while (!q.listPackages(g, { limit: 1, upkeep: Infinity }).ready);
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        let ms = 0;
        for (let from = 0; from < lines.length; from += 1000) {
          const t = performance.now();
          for (let i = from; i < Math.min(from + 1000, lines.length); i++) {
            const [verb, name, deps] = lines[i]!;
            if (verb === 'INDEX') g.index(name, deps);
            else g.remove(name);
          }
          ms += performance.now() - t;
          if (withView) q.listPackages(g, { limit: 10, upkeep: 20_000 });
        }
        best = Math.min(best, (ms * 1e6) / lines.length);
      }
      return best;
    };
    console.log('\n| graph | INDEX/REMOVE 50/50, ns per command (min of 5 rounds; 3 runs alternated) |');
    console.log('| --- | --- |');
    const results: Record<string, number[]> = {
      'no sorted view': [],
      'sorted view kept (listed between chunks of 1,000 commands, not timed)': [],
    };
    for (let alternation = 0; alternation < 3; alternation++)
      for (const [label, ns] of Object.entries(results)) ns.push(measure(label !== 'no sorted view'));
    for (const [label, ns] of Object.entries(results))
      console.log(`| ${label} | ${ns.map((x) => x.toFixed(0)).join(', ')} |`);
  }

  // 2. Pages of names, on a synthetic index and on Debian's archive.
  function depsOf(i: number): string[] {
    const deps = new Set<string>();
    for (let k = 0; k < i % 4 && i > 0; k++) deps.add(`pkg-${(i * 7919 + k * 104729) % i}`);
    return [...deps];
  }

  function pages(label: string, g: Graph, prefix: string): void {
    let calls = 0;
    let ready = false;
    const t = performance.now();
    let longest = 0;
    while (!ready) {
      const s = performance.now();
      ready = q.listPackages(g, { limit: 1, upkeep: 50_000 }).ready;
      longest = Math.max(longest, performance.now() - s);
      calls++;
    }
    const build = performance.now() - t;
    const first = time(() => q.listPackages(g, { limit: 100 }), { repeat: 100 });
    let after: string | undefined;
    const walk = time(
      () => {
        const page = q.listPackages(g, { limit: 100, after });
        after = page.next ?? undefined;
      },
      { repeat: 1000 },
    );
    const prefixed = time(() => q.listPackages(g, { limit: 100, prefix }), { repeat: 100 });
    const leaves = time(() => q.listLeaves(g, { limit: 100 }), { repeat: 100 });
    console.log(
      `| ${label} | ${calls} calls of 50,000 units, ${build.toFixed(0)} ms in all, longest ${longest.toFixed(1)} ms | ${fmt(first)} | ${fmt(walk)} | ${fmt(prefixed)} (prefix "${prefix}") | ${fmt(leaves)} |`,
    );
  }

  console.log(
    '\n| index | sorted view built (first listings) | page of 100 | next pages of 100 | prefixed page | leaves page |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  const synthetic = new DependencyGraph();
  const size = Number(values.packages);
  for (let i = 0; i < size; i++) synthetic.index(`pkg-${i}`, depsOf(i));
  pages(`synthetic, ${size.toLocaleString('en')} packages`, synthetic, 'pkg-4242');

  const dump = spawnSync('apt-cache', ['dumpavail'], { encoding: 'latin1', maxBuffer: 1 << 30 });
  let debian: Graph | null = null;
  if (dump.status !== 0) console.log(`\nDebian skipped: apt-cache dumpavail failed (${dump.stderr.trim()})`);
  else {
    const order = planImport((await parseDebian(dump.stdout.split('\n'))).packages, {
      breakCycles: true,
    }).order;
    debian = new DependencyGraph();
    for (const p of order) debian.index(p.name, p.deps);
    pages(`Debian, ${debian.size.toLocaleString('en')} packages`, debian, 'libc');
  }

  // 3. Per package: the largest closures.
  function perPackage(label: string, g: Graph, name: string): void {
    const info = q.packageInfo(g, name)!;
    const all = q.dependentsPage(g, name, { transitive: true, limit: 100, maxVisits: 1_000_000 })!;
    console.log(
      `| ${label} | ${name}: ${info.dependentCount.toLocaleString('en')} direct, ${all.total.toLocaleString('en')} transitive dependents; closure ${info.closureSize}, depth ${info.depth} | ` +
        `${fmt(time(() => q.packageInfo(g, name)))} | ` +
        `${fmt(time(() => q.dependentsPage(g, name, { transitive: true, limit: 100, maxVisits: 1_000_000 })))} | ` +
        `${fmt(time(() => q.dependentsPage(g, name, { transitive: true, limit: 100 })))} (${q.dependentsPage(g, name, { transitive: true })!.truncated ? 'truncated' : 'whole'}) | ` +
        `${fmt(time(() => q.dependentTree(g, name, { depth: 3 })))} | ${fmt(time(() => q.whyHeld(g, name)))} | ${fmt(time(() => q.removalOrder(g, name, { maxVisits: 1_000_000 })))} |`,
    );
  }
  console.log(
    '\n| index | package | packageInfo | all transitive dependents, page of 100 (visits up to 1M) | same, default 100,000 visits | reverse tree, depth 3 | whyHeld | removal order (visits up to 1M) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  if (debian !== null) {
    perPackage('Debian', debian, 'libc6');
    perPackage('Debian', debian, 'libgcc-s1');
  }
  perPackage('synthetic', synthetic, 'pkg-0');

  // 4. The survey of the whole index, in steps of 50,000 units.
  function survey(label: string, g: Graph): void {
    const s = new q.GraphSurvey(g);
    let steps = 0;
    let longest = 0;
    const t = performance.now();
    for (;;) {
      const u = performance.now();
      const done = s.step(50_000);
      longest = Math.max(longest, performance.now() - u);
      steps++;
      if (done) break;
    }
    const r = s.result();
    console.log(
      `| ${label} | ${steps} steps, ${(performance.now() - t).toFixed(0)} ms in all, longest ${longest.toFixed(1)} ms, ${r.work.toLocaleString('en')} units | max depth ${r.maxDepth}; most dependents ${r.mostDependents[0]?.name} (${r.mostDependents[0]?.dependents}); largest closure ${r.largestClosures[0]?.name} (${r.largestClosures[0]?.dependents}${r.largestClosures[0]?.exact === true ? '' : '+'}) |`,
    );
  }
  console.log('\n| index | survey in steps of 50,000 units | found |');
  console.log('| --- | --- | --- |');
  if (debian !== null) survey('Debian', debian);
  survey(`synthetic, ${size.toLocaleString('en')}`, synthetic);
  return 0;
}
