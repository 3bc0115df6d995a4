import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DependencyGraph, IndexOutcome } from '../../src/graph/dependency-graph.js';
import {
  GraphSurvey,
  IndexVerdict,
  dependenciesPage,
  dependencyTree,
  dependentTree,
  dependentsPage,
  installOrder,
  listLeaves,
  listPackages,
  listRoots,
  packageInfo,
  removalOrder,
  whyHeld,
  whyRefused,
  type ListOptions,
  type ListPage,
  type PackageSummary,
  type RelatedOptions,
  type RelatedPage,
  type TreeNode,
} from '../../src/graph/queries.js';
import { ModelIndex, bytewise } from './support/model.js';

// Names that sort differently bytewise than by locale or case-insensitively.
const POOL = [
  'A',
  'B',
  'a',
  'a+',
  'a-b',
  'a.b',
  'a@1',
  'aa',
  'ab',
  'b',
  'b/c',
  'b:d',
  'Z9',
  'z',
  '0',
  '09',
  '1',
  'lib',
  'libc6',
  'libc6-dev',
  'libgcc-s1',
  'gtk+3',
  'glib',
  'python@3.12',
];

/** A random DAG: each package depends on some packages before it in a random permutation. */
const dag = fc
  .tuple(
    fc.shuffledSubarray(POOL, { minLength: 1 }),
    fc.array(fc.array(fc.nat(), { maxLength: 4 }), { maxLength: POOL.length, size: 'max' }),
  )
  .map(([names, picks]) =>
    names.map((name, i) => ({
      name,
      deps: i === 0 ? [] : (picks[i] ?? []).map((k) => names[k % i]!),
    })),
  );

/** Re-indexes after the build, so positions in the order no longer follow the build order. */
const rewires = fc.array(
  fc.record({ name: fc.constantFrom(...POOL), deps: fc.array(fc.constantFrom(...POOL), { maxLength: 3 }) }),
  { maxLength: 30, size: 'max' },
);

function build(
  specs: { name: string; deps: string[] }[],
  extra: { name: string; deps: string[] }[],
): [DependencyGraph, ModelIndex] {
  const g = new DependencyGraph();
  const m = new ModelIndex();
  for (const s of specs) assert.equal(g.index(s.name, s.deps), m.index(s.name, s.deps));
  for (const s of extra)
    if (m.deps.has(s.name)) assert.equal(g.index(s.name, s.deps), m.index(s.name, s.deps));
  return [g, m];
}

/** Every page until `next` is null; retries while the sorted view is not ready. */
function allPages(list: (options: ListOptions) => ListPage, options: ListOptions): PackageSummary[] {
  const out: PackageSummary[] = [];
  let after: string | undefined = options.after;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = list({ ...options, after });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
  throw new Error('pagination did not end');
}

function allRelated(
  page: (options: RelatedOptions) => RelatedPage | undefined,
  options: RelatedOptions,
): string[] {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const p = page({ ...options, after })!;
    assert.equal(p.truncated, false);
    out.push(...p.items);
    if (p.next === null) return out;
    after = p.next;
  }
}

function summaries(m: ModelIndex, names: string[]): PackageSummary[] {
  return names.map((name) => ({
    name,
    dependencies: m.deps.get(name)!.size,
    dependents: m.dependents(name).length,
  }));
}

test('property: listing, by pages of any size, with any prefix, gives the model’s names in bytewise order', () => {
  fc.assert(
    fc.property(
      dag,
      rewires,
      fc.integer({ min: 1, max: 7 }),
      fc.constantFrom('', 'a', 'lib', 'libc6', 'b', 'x', 'A'),
      fc.integer({ min: 1, max: 400 }),
      (specs, extra, limit, prefix, upkeep) => {
        const [g, m] = build(specs, extra);
        const names = m.names().filter((n) => n.startsWith(prefix));
        assert.deepEqual(
          allPages((o) => listPackages(g, o), { limit, prefix, upkeep }),
          summaries(m, names),
        );
        const leaves = names.filter((n) => m.dependents(n).length === 0);
        assert.deepEqual(
          allPages((o) => listLeaves(g, o), { limit, prefix, upkeep }),
          summaries(m, leaves),
        );
        const roots = names.filter((n) => m.deps.get(n)!.size === 0);
        assert.deepEqual(
          allPages((o) => listRoots(g, o), { limit, prefix, upkeep }),
          summaries(m, roots),
        );
        assert.deepEqual(g.verify(), []);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: pages never repeat or skip a package while others are indexed and removed between them', () => {
  const mutation = fc.oneof(
    fc.record({
      op: fc.constant('index' as const),
      name: fc.constantFrom(...POOL),
      deps: fc.array(fc.constantFrom(...POOL), { maxLength: 2 }),
    }),
    fc.record({ op: fc.constant('remove' as const), name: fc.constantFrom(...POOL) }),
  );
  fc.assert(
    fc.property(
      dag,
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.array(mutation, { maxLength: 4 }), { maxLength: 40, size: 'max' }),
      fc.integer({ min: 1, max: 300 }),
      (specs, limit, between, upkeep) => {
        const [g, m] = build(specs, []);
        const before = new Set(m.deps.keys());
        const touched = new Set<string>();
        const seen: string[] = [];
        let after: string | undefined;
        for (let page = 0; ; page++) {
          const result = listPackages(g, { after, limit, upkeep });
          for (const item of result.items) {
            assert.ok(m.deps.has(item.name), `${item.name} listed while not indexed`);
            seen.push(item.name);
          }
          if (result.next === null) break;
          after = result.next;
          for (const mu of between[page % Math.max(1, between.length)] ?? []) {
            touched.add(mu.name);
            if (mu.op === 'index') assert.equal(g.index(mu.name, mu.deps), m.index(mu.name, mu.deps));
            else assert.equal(g.remove(mu.name), m.remove(mu.name));
          }
          assert.deepEqual(g.verify(), []);
        }
        // Strictly increasing: nothing repeated, nothing out of order.
        for (let i = 1; i < seen.length; i++)
          assert.ok(bytewise(seen[i - 1]!, seen[i]!) < 0, `${seen[i - 1]} then ${seen[i]}`);
        // Nothing skipped that was indexed throughout.
        for (const name of before)
          if (!touched.has(name)) assert.ok(seen.includes(name), `${name} was skipped`);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: the sorted view stays whole through many additions and removals (merges, compaction, dormancy)', () => {
  // Names by the thousand, so runs are cut, merged and compacted; upkeep in small steps.
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9999 })), {
        minLength: 1,
        maxLength: 3000,
        size: 'max',
      }),
      fc.integer({ min: 50, max: 5000 }),
      (ops, upkeep) => {
        const g = new DependencyGraph();
        const live = new Set<string>();
        for (const [add, k] of ops) {
          const name = `p${k}`;
          if (add) {
            g.index(name, []);
            live.add(name);
          } else {
            g.remove(name);
            live.delete(name);
          }
          if (k % 97 === 0) listPackages(g, { limit: 1, upkeep });
        }
        const listed = allPages((o) => listPackages(g, o), { limit: 1000, upkeep });
        assert.deepEqual(
          listed.map((s) => s.name),
          [...live].sort(bytewise),
        );
        assert.deepEqual(g.verify(), []);
      },
    ),
    { numRuns: 40 },
  );
});

test('a sorted view nobody reads while a huge tail piles up is dropped, and built again when read', () => {
  const g = new DependencyGraph();
  g.index('first', []);
  assert.equal(listPackages(g).items.length, 1);
  for (let i = 0; i < 140_000; i++) g.index(`n${i}`, []);
  assert.equal(g.sortedNames().held, 0, 'a fresh view');
  const page = listPackages(g, { upkeep: Infinity, limit: 2, prefix: 'n9999' });
  assert.deepEqual(
    page.items.map((s) => s.name),
    ['n9999', 'n99990'],
  );
  assert.deepEqual(g.verify(), []);
});

test('additions beyond a chunk between reads are cut into runs in steps, removed names dropped', () => {
  const g = new DependencyGraph();
  const live = new Set<string>();
  g.index('seed', []);
  live.add('seed');
  assert.equal(listPackages(g).items.length, 1);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 9000; i++) {
      const name = `r${round}-${(i * 7919) % 9000}`;
      g.index(name, []);
      live.add(name);
    }
    for (let i = 0; i < 9000; i++) {
      if (i % 3 === 0) continue;
      g.remove(`r${round}-${i}`);
      live.delete(`r${round}-${i}`);
    }
    let page = listPackages(g, { upkeep: 2000, limit: 1 });
    while (!page.ready) page = listPackages(g, { upkeep: 2000, limit: 1 });
    assert.deepEqual(g.verify(), []);
  }
  assert.deepEqual(
    allPages((o) => listPackages(g, o), { limit: 1000 }).map((p) => p.name),
    [...live].sort(bytewise),
  );
  // More removed than left: the view compacted itself, down to the live names.
  g.sortedNames().maintain(Infinity);
  assert.equal(g.sortedNames().held, live.size);
});

test('the sorted view is built in steps: not ready at first with a tiny upkeep, then ready', () => {
  const g = new DependencyGraph();
  for (let i = 0; i < 20_000; i++) g.index(`n${i}`, []);
  const first = listPackages(g, { upkeep: 100 });
  assert.equal(first.ready, false);
  assert.deepEqual(first.items, []);
  assert.equal(first.next, '');
  let calls = 1;
  let page = first;
  while (!page.ready) {
    page = listPackages(g, { upkeep: 100_000, limit: 3 });
    calls++;
  }
  assert.ok(calls > 1);
  assert.deepEqual(
    page.items.map((s) => s.name),
    ['n0', 'n1', 'n10'],
  );
});

test('property: one package: dependencies, dependents, closure size and depth agree with the model', () => {
  fc.assert(
    fc.property(dag, rewires, fc.integer({ min: 1, max: 40 }), (specs, extra, maxVisits) => {
      const [g, m] = build(specs, extra);
      for (const name of m.names()) {
        const info = packageInfo(g, name)!;
        assert.deepEqual(new Set(info.dependencies), m.deps.get(name));
        assert.deepEqual(info.dependents, m.dependents(name));
        assert.equal(info.dependentCount, m.dependents(name).length);
        assert.equal(info.closureSize, m.closure(name).length);
        assert.equal(info.depth, m.depth(name));
        assert.equal(info.exact, true);
        const bounded = packageInfo(g, name, { maxVisits, maxDependents: 2 })!;
        assert.ok(bounded.closureSize <= info.closureSize && bounded.depth <= info.depth);
        if (bounded.exact)
          assert.deepEqual([bounded.closureSize, bounded.depth], [info.closureSize, info.depth]);
        // The first two by name of the first `maxVisits` dependents looked at.
        if (info.dependentCount <= maxVisits)
          assert.deepEqual(bounded.dependents, info.dependents.slice(0, 2));
        else {
          assert.equal(bounded.dependents.length, Math.min(2, maxVisits));
          for (const d of bounded.dependents) assert.ok(info.dependents.includes(d));
        }
      }
      assert.equal(packageInfo(g, 'not-indexed'), undefined);
    }),
    { numRuns: 200 },
  );
});

test('property: dependencies and dependents, direct and transitive, page by page, agree with the model', () => {
  fc.assert(
    fc.property(dag, rewires, fc.integer({ min: 1, max: 5 }), (specs, extra, limit) => {
      const [g, m] = build(specs, extra);
      for (const name of m.names()) {
        const direct = [...m.deps.get(name)!].sort(bytewise);
        assert.deepEqual(
          allRelated((o) => dependenciesPage(g, name, o), { limit }),
          direct,
        );
        assert.deepEqual(
          allRelated((o) => dependentsPage(g, name, o), { limit }),
          m.dependents(name),
        );
        assert.deepEqual(
          allRelated((o) => dependenciesPage(g, name, o), { limit, transitive: true }),
          m.closure(name),
        );
        assert.deepEqual(
          allRelated((o) => dependentsPage(g, name, o), { limit, transitive: true }),
          m.reverseClosure(name),
        );
        assert.equal(dependentsPage(g, name, { transitive: true })!.total, m.reverseClosure(name).length);
        assert.equal(dependenciesPage(g, name, { transitive: true })!.total, m.closure(name).length);
      }
    }),
    { numRuns: 200 },
  );
});

test('a transitive page over a closure larger than its visit budget says it is truncated', () => {
  const g = new DependencyGraph();
  g.index('base', []);
  for (let i = 0; i < 500; i++) g.index(`u${i}`, ['base']);
  const page = dependentsPage(g, 'base', { transitive: true, maxVisits: 100, limit: 10 })!;
  assert.equal(page.truncated, true);
  assert.ok(page.total < 500);
  const direct = dependentsPage(g, 'base', { maxVisits: 100, limit: 10 })!;
  assert.equal(direct.truncated, true);
  assert.equal(direct.total, 500);
  const whole = dependentsPage(g, 'base', { limit: 10 })!;
  assert.deepEqual(whole.items, ['u0', 'u1', 'u10', 'u100', 'u101', 'u102', 'u103', 'u104', 'u105', 'u106']);
  assert.equal(whole.next, 'u106');
});

/** Checks a tree against the model: children sorted and complete where expanded, one expansion per package. */
function checkTree(root: TreeNode, children: (name: string) => string[], depth: number): void {
  const expanded = new Set<string>();
  const walk = (node: TreeNode, level: number): void => {
    const expected = children(node.name);
    if (node.children !== undefined) {
      assert.ok(!expanded.has(node.name), `${node.name} expanded twice`);
      expanded.add(node.name);
      assert.deepEqual(
        node.children.map((c) => c.name),
        expected,
      );
      for (const c of node.children) walk(c, level + 1);
    } else if (node.seen === true) {
      assert.ok(expanded.has(node.name), `${node.name} marked seen before its expansion`);
    } else if (node.more === true) {
      assert.equal(level, depth);
      assert.ok(expected.length > 0);
    } else assert.deepEqual(expected, [], `${node.name} has children that are not shown`);
  };
  walk(root, 0);
}

test('property: dependency and reverse trees show each package once, children sorted, depth-limited', () => {
  fc.assert(
    fc.property(dag, rewires, fc.integer({ min: 0, max: 6 }), (specs, extra, depth) => {
      const [g, m] = build(specs, extra);
      for (const name of m.names()) {
        const down = dependencyTree(g, name, { depth })!;
        assert.equal(down.truncated, false);
        checkTree(down.root, (n) => [...m.deps.get(n)!].sort(bytewise), depth);
        const up = dependentTree(g, name, { depth })!;
        checkTree(up.root, (n) => m.dependents(n), depth);
      }
    }),
    { numRuns: 200 },
  );
});

test('a tree with a node budget stops and says so', () => {
  const g = new DependencyGraph();
  g.index('base', []);
  for (let i = 0; i < 50; i++) g.index(`u${i}`, ['base']);
  const tree = dependentTree(g, 'base', { maxNodes: 10 })!;
  assert.equal(tree.truncated, true);
  assert.equal(tree.nodes, 10);
  assert.equal(tree.root.more, true);
  assert.deepEqual(
    tree.root.children!.map((c) => c.name),
    ['u0', 'u1', 'u10', 'u11', 'u12', 'u13', 'u14', 'u15', 'u16'],
  );
});

test('property: why a package is held: a shortest chain of dependents from one nothing depends on', () => {
  fc.assert(
    fc.property(dag, rewires, (specs, extra) => {
      const [g, m] = build(specs, extra);
      for (const name of m.names()) {
        const held = whyHeld(g, name)!;
        const chain = held.chain;
        assert.equal(chain.at(-1), name);
        assert.equal(m.dependents(chain[0]!).length, 0);
        for (let i = 0; i + 1 < chain.length; i++) assert.ok(m.deps.get(chain[i]!)!.has(chain[i + 1]!));
        assert.equal(held.shortest, true);
        // Shortest: breadth first in the model.
        let level = [name];
        let distance = 0;
        const seen = new Set(level);
        while (!level.some((n) => m.dependents(n).length === 0)) {
          level = level.flatMap((n) => m.dependents(n)).filter((n) => !seen.has(n) && seen.add(n));
          distance++;
        }
        assert.equal(chain.length - 1, distance);
        // Out of budget for the search: any chain, possibly cut short, still a chain.
        const greedy = whyHeld(g, name, { maxVisits: 2 })!;
        assert.equal(greedy.chain.at(-1), name);
        for (let i = 0; i + 1 < greedy.chain.length; i++)
          assert.ok(m.deps.get(greedy.chain[i]!)!.has(greedy.chain[i + 1]!));
        if (greedy.complete) assert.equal(m.dependents(greedy.chain[0]!).length, 0);
        else assert.equal(greedy.chain.length, 3);
      }
    }),
    { numRuns: 200 },
  );
});

test('property: why an INDEX would be refused: the missing dependencies, or a path that closes a cycle', () => {
  fc.assert(
    fc.property(
      dag,
      rewires,
      fc.constantFrom(...POOL),
      fc.array(fc.constantFrom(...POOL, 'nowhere'), { maxLength: 4 }),
      (specs, extra, name, deps) => {
        const [g, m] = build(specs, extra);
        const why = whyRefused(g, name, deps);
        const copy = new ModelIndex();
        for (const [n, ds] of m.deps) copy.deps.set(n, new Set(ds));
        const outcome = copy.index(name, deps);
        switch (why.verdict) {
          case IndexVerdict.MISSING_DEPENDENCY:
            assert.equal(outcome, IndexOutcome.MISSING_DEPENDENCY);
            assert.deepEqual(why.missing, [...new Set(deps.filter((d) => !m.deps.has(d)))]);
            break;
          case IndexVerdict.CYCLE: {
            assert.equal(outcome, IndexOutcome.CYCLE);
            const c = why.cycle;
            assert.equal(c[0], name);
            assert.equal(c.at(-1), name);
            assert.ok(deps.includes(c[1]!));
            for (let i = 1; i + 1 < c.length; i++)
              assert.ok(m.deps.get(c[i]!)!.has(c[i + 1]!), `${c[i]} → ${c[i + 1]}`);
            break;
          }
          case IndexVerdict.OK:
            assert.ok(
              ([IndexOutcome.ADDED, IndexOutcome.REPLACED, IndexOutcome.UNCHANGED] as string[]).includes(
                outcome,
              ),
            );
            break;
          case IndexVerdict.UNKNOWN:
            assert.fail('unknown with the default budget');
        }
        // The graph itself agrees.
        assert.equal(g.index(name, deps), outcome);
      },
    ),
    { numRuns: 500 },
  );
});

test('property: install order and removal order are valid and complete', () => {
  fc.assert(
    fc.property(dag, rewires, (specs, extra) => {
      const [g, m] = build(specs, extra);
      for (const name of m.names()) {
        const install = installOrder(g, name)!;
        assert.equal(install.truncated, false);
        assert.deepEqual([...install.items].sort(bytewise), [...m.closure(name), name].sort(bytewise));
        assert.equal(install.items.at(-1), name);
        const at = new Map(install.items.map((n, i) => [n, i]));
        for (const n of install.items)
          for (const d of m.deps.get(n)!) assert.ok(at.get(d)! < at.get(n)!, `${d} before ${n}`);
        const removal = removalOrder(g, name)!;
        assert.deepEqual([...removal.items].sort(bytewise), [...m.reverseClosure(name), name].sort(bytewise));
        assert.equal(removal.items.at(-1), name);
        // Removing in this order never meets a package something still depends on.
        const copy = new ModelIndex();
        for (const [n, ds] of m.deps) copy.deps.set(n, new Set(ds));
        for (const n of removal.items) assert.equal(copy.remove(n), 'removed', `remove ${n}`);
      }
    }),
    { numRuns: 200 },
  );
});

test('property: a removal order cut at a small visit budget can still be followed to the letter', () => {
  fc.assert(
    fc.property(dag, rewires, fc.integer({ min: 1, max: 30 }), (specs, extra, maxVisits) => {
      const [g, m] = build(specs, extra);
      for (const name of m.names()) {
        const removal = removalOrder(g, name, { maxVisits })!;
        const closure = new Set([...m.reverseClosure(name), name]);
        for (const n of removal.items) assert.ok(closure.has(n), `${n} depends on ${name}`);
        assert.equal(new Set(removal.items).size, removal.items.length, 'each once');
        if (!removal.truncated) assert.equal(removal.items.length, closure.size);
        // Every dependent of a package listed comes before it: removing never fails.
        const copy = new ModelIndex();
        for (const [n, ds] of m.deps) copy.deps.set(n, new Set(ds));
        for (const n of removal.items)
          assert.equal(copy.remove(n), 'removed', `remove ${n} of ${removal.items.join(' ')} (${name})`);
      }
    }),
    { numRuns: 300 },
  );
});

test('a removal order cut at the bound keeps what nothing unlisted depends on, dependents first', () => {
  // base ← mid{0..9} ← top{i}: the walk from base stops among the mids, before most tops.
  const g = new DependencyGraph();
  g.index('base', []);
  for (let i = 0; i < 10; i++) {
    g.index(`mid${i}`, ['base']);
    g.index(`top${i}`, [`mid${i}`]);
  }
  g.index('lone', ['base']);
  const cut = removalOrder(g, 'base', { maxVisits: 14 })!;
  assert.equal(cut.truncated, true);
  assert.ok(cut.items.includes('lone'), cut.items.join(' '));
  assert.ok(!cut.items.includes('base'));
  for (const item of cut.items)
    if (item.startsWith('mid')) assert.ok(cut.items.indexOf(`top${item.slice(3)}`) >= 0, item);
  assert.equal(removalOrder(g, 'base')!.items.length, 22);
});

test('property: a survey in small steps finds the longest chains, the most depended on, their closures', () => {
  fc.assert(
    fc.property(dag, rewires, fc.integer({ min: 1, max: 30 }), (specs, extra, budget) => {
      const [g, m] = build(specs, extra);
      const survey = new GraphSurvey(g, { top: 3 });
      let steps = 0;
      while (!survey.step(budget)) steps++;
      const r = survey.result();
      assert.equal(r.exact, true);
      assert.deepEqual(
        [r.packages, r.edges],
        [m.deps.size, [...m.deps.values()].reduce((n, s) => n + s.size, 0)],
      );
      const depths = m.names().map((n) => m.depth(n));
      assert.equal(r.maxDepth, Math.max(...depths));
      assert.deepEqual(
        r.longestChains.map((c) => c.length - 1),
        [...depths].sort((a, b) => b - a).slice(0, 3),
      );
      for (const c of r.longestChains)
        for (let i = 0; i + 1 < c.length; i++) assert.ok(m.deps.get(c[i]!)!.has(c[i + 1]!));
      const counts = m.names().map((n) => m.dependents(n).length);
      assert.deepEqual(
        r.mostDependents.map((d) => d.dependents),
        [...counts].sort((a, b) => b - a).slice(0, 3),
      );
      for (const c of r.largestClosures) {
        assert.equal(c.exact, true);
        assert.equal(c.dependents, m.reverseClosure(c.name).length);
      }
      assert.ok(steps >= Math.floor(r.work / (budget + 100_000)));
    }),
    { numRuns: 200 },
  );
});

test('a survey over a graph that changes while it runs says it is approximate', () => {
  const g = new DependencyGraph();
  for (let i = 0; i < 100; i++) g.index(`c${i}`, i === 0 ? [] : [`c${i - 1}`]);
  const survey = new GraphSurvey(g);
  survey.step(10);
  g.index('late', ['c99']);
  while (!survey.step(10));
  assert.equal(survey.result().exact, false);
  const again = new GraphSurvey(g);
  while (!again.step(1000));
  assert.equal(again.result().exact, true);
  assert.equal(again.result().maxDepth, 100);
  assert.deepEqual(again.result().longestChains[0]!.slice(0, 3), ['late', 'c99', 'c98']);
});
