import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDebian } from '../../src/import/debian.js';
import { LeftOutReason, planImport, type ImportPlan, type SourcePackage } from '../../src/import/plan.js';
import { readLines } from '../../src/import/read-lines.js';

const FIXTURE = 'test/fixtures/debian/Packages';

function names(order: readonly SourcePackage[]): string[] {
  return order.map((p) => p.name);
}

function dropped(plan: ImportPlan): string[] {
  return plan.droppedEdges.map((e) => `${e.from} -> ${e.to}`).sort();
}

/** Every planned package's dependencies come earlier in the plan, so the server accepts it. */
function assertServerOrder(plan: ImportPlan): void {
  const position = new Map(plan.order.map((p, i) => [p.name, i]));
  plan.order.forEach((p, i) => {
    for (const d of p.deps) {
      const at = position.get(d);
      assert.ok(at !== undefined && at < i, `${p.name} depends on ${d}, which comes after it or not at all`);
    }
  });
}

test('the Debian excerpt: libc6 gives up libgcc-s1 and both are planned, with their dependents', async () => {
  const parsed = await parseDebian(readLines([FIXTURE]));
  const without = planImport(parsed.packages);
  const plan = planImport(parsed.packages, { breakCycles: true });

  assert.deepEqual(plan.cycles, [['libc6', 'libgcc-s1']]);
  assert.deepEqual(plan.droppedEdges, [{ from: 'libc6', to: 'libgcc-s1', cycle: 0 }]);
  assert.equal(
    plan.leftOut.some((l) => l.reason === LeftOutReason.CYCLE),
    false,
  );
  const order = names(plan.order);
  assert.ok(order.indexOf('libc6') < order.indexOf('libgcc-s1'));
  for (const pkg of ['libcrypt1', 'zlib1g', 'mawk', 'openssl', 'ca-certificates'])
    assert.ok(order.includes(pkg), pkg);
  assertServerOrder(plan);

  // What is sent: libc6 without libgcc-s1; libgcc-s1 still with libc6.
  const libc6 = plan.order.find((p) => p.name === 'libc6')!;
  assert.deepEqual(libc6.deps, []);
  const libgcc = plan.order.find((p) => p.name === 'libgcc-s1')!;
  assert.deepEqual([...libgcc.deps].sort(), ['gcc-12-base', 'libc6']);

  assert.equal(plan.letIn, plan.order.length - without.order.length);
  assert.equal(without.order.length, 11);
  assert.equal(plan.order.length, 22);
  // Missing dependencies keep packages out either way.
  const missing = (p: ImportPlan): string[] =>
    p.leftOut
      .filter((l) => l.reason === LeftOutReason.MISSING_DEPENDENCY)
      .map((l) => l.name)
      .sort();
  assert.deepEqual(missing(plan), missing(without));
  assert.ok(missing(plan).includes('perl-base'));
});

test('a self-dependency is dropped; the package is planned without it', () => {
  const plan = planImport(
    [
      { name: 'narcissus', deps: ['narcissus', 'base'] },
      { name: 'base', deps: [] },
      { name: 'admirer', deps: ['narcissus'] },
    ],
    { breakCycles: true },
  );
  assert.deepEqual(names(plan.order), ['base', 'narcissus', 'admirer']);
  assert.deepEqual(plan.order[1]!.deps, ['base']);
  assert.deepEqual(plan.droppedEdges, [{ from: 'narcissus', to: 'narcissus', cycle: 0 }]);
  assert.equal(plan.letIn, 2);
});

test('a tie goes to keeping the dependency on the package more of the source depends on', () => {
  // a ↔ b; three packages use b, one uses a: b is foundational, so b gives up its dependency on a.
  const source = [
    { name: 'a', deps: ['b'] },
    { name: 'b', deps: ['a'] },
    { name: 'u1', deps: ['b'] },
    { name: 'u2', deps: ['b'] },
    { name: 'u3', deps: ['b', 'a'] },
  ];
  const plan = planImport(source, { breakCycles: true });
  assert.deepEqual(dropped(plan), ['b -> a']);
  assert.ok(names(plan.order).indexOf('b') < names(plan.order).indexOf('a'));
  // Equal in every way: the first name keeps its dependency and goes later.
  assert.deepEqual(
    dropped(
      planImport(
        [
          { name: 'y', deps: ['x'] },
          { name: 'x', deps: ['y'] },
        ],
        { breakCycles: true },
      ),
    ),
    ['y -> x'],
  );
});

test('the greedy order drops one edge of a triangle with a chord, not two', () => {
  // a → b → c → a, plus a → c: dropping c → a alone breaks both cycles.
  const plan = planImport(
    [
      { name: 'a', deps: ['b', 'c'] },
      { name: 'b', deps: ['c'] },
      { name: 'c', deps: ['a'] },
    ],
    { breakCycles: true },
  );
  assert.deepEqual(dropped(plan), ['c -> a']);
  assert.deepEqual(names(plan.order), ['c', 'b', 'a']);
  assert.deepEqual(plan.cycles, [['a', 'b', 'c']]);
});

test('the choice does not depend on the order of the source', () => {
  const source: SourcePackage[] = [
    { name: 'p', deps: ['q', 'r'] },
    { name: 'q', deps: ['r', 's'] },
    { name: 'r', deps: ['p', 's'] },
    { name: 's', deps: ['p'] },
  ];
  const first = planImport(source, { breakCycles: true });
  const reversed = planImport([...source].reverse(), { breakCycles: true });
  assert.deepEqual(dropped(first), dropped(reversed));
  assert.deepEqual(names(first.order), names(reversed.order));
});

test('a cycle member with a missing dependency stays out, and so does what depends on it', () => {
  // a is the more used, so b keeps its dependency on a, which cannot be indexed.
  const plan = planImport(
    [
      { name: 'a', deps: ['b', 'ghost'] },
      { name: 'b', deps: ['a'] },
      { name: 'c', deps: ['a'] },
      { name: 'd', deps: ['a'] },
    ],
    { breakCycles: true },
  );
  assert.deepEqual(dropped(plan), ['a -> b']);
  assert.deepEqual(names(plan.order), []);
  const reasons = Object.fromEntries(plan.leftOut.map((l) => [l.name, l.reason]));
  assert.deepEqual(reasons, {
    a: LeftOutReason.MISSING_DEPENDENCY,
    b: LeftOutReason.BLOCKED,
    c: LeftOutReason.BLOCKED,
    d: LeftOutReason.BLOCKED,
  });
  assert.equal(plan.letIn, 0);
});

test('a 100,000-package cycle is broken with one edge, without recursion', () => {
  const n = 100_000;
  const ring: SourcePackage[] = [];
  for (let i = 0; i < n; i++) ring.push({ name: `p${i}`, deps: [`p${(i + 1) % n}`] });
  const plan = planImport(ring, { breakCycles: true });
  assert.equal(plan.order.length, n);
  assert.equal(plan.droppedEdges.length, 1);
  assertServerOrder(plan);
});

/** Packages `p0..p{n-1}` with random deps among them (self-dependencies too) and a few that do not exist. */
const arbitrarySource = fc
  .integer({ min: 1, max: 25 })
  .chain((n) =>
    fc.array(fc.array(fc.integer({ min: 0, max: n }), { maxLength: 5 }), { minLength: n, maxLength: n }),
  );

function toSource(spec: readonly (readonly number[])[]): SourcePackage[] {
  const nameOf = (i: number): string => (i >= spec.length ? 'ghost' : `p${i}`);
  return spec.map((deps, i) => ({ name: nameOf(i), deps: deps.map(nameOf) }));
}

test('property: breaking leaves an acyclic plan the server accepts, dropping only edges inside cycles', () => {
  fc.assert(
    fc.property(arbitrarySource, (spec) => {
      const source = toSource(spec);
      const depsOf = new Map(source.map((p) => [p.name, p.deps]));
      // Model: `to` reaches `from` through existing packages, so from → to is on a cycle.
      const reaches = (start: string, goal: string): boolean => {
        const seen = new Set<string>();
        const stack = [start];
        while (stack.length > 0) {
          const name = stack.pop()!;
          if (name === goal) return true;
          if (seen.has(name) || !depsOf.has(name)) continue;
          seen.add(name);
          stack.push(...depsOf.get(name)!);
        }
        return false;
      };

      const without = planImport(source);
      assert.deepEqual(planImport(source, { breakCycles: false }), without, 'the flag off changes nothing');
      assert.deepEqual(without.droppedEdges, []);
      assert.equal(without.letIn, 0);

      const plan = planImport(source, { breakCycles: true });
      assertServerOrder(plan);
      assert.deepEqual(plan.cycles, without.cycles, 'the same cycles are found');
      assert.equal(plan.order.length + plan.leftOut.length, source.length);
      assert.equal(
        plan.leftOut.some((l) => l.reason === LeftOutReason.CYCLE),
        false,
      );

      const droppedFrom = new Map<string, Set<string>>();
      for (const e of plan.droppedEdges) {
        assert.ok(depsOf.get(e.from)!.includes(e.to), 'a dropped edge existed');
        assert.ok(reaches(e.to, e.from), 'a dropped edge was on a cycle');
        const cycle = plan.cycles[e.cycle]!;
        assert.ok(cycle.includes(e.from) && cycle.includes(e.to), 'inside the cycle it is reported with');
        droppedFrom.set(e.from, (droppedFrom.get(e.from) ?? new Set()).add(e.to));
      }
      const remaining = (p: SourcePackage): string[] =>
        p.deps.filter((d) => droppedFrom.get(p.name)?.has(d) !== true);

      // What is sent is the package's dependencies without the dropped ones.
      for (const p of plan.order)
        assert.deepEqual(p.deps, remaining({ name: p.name, deps: depsOf.get(p.name)! }));

      // Model: with the dropped edges gone, the graph is acyclic (Kahn) over existing packages.
      const indegree = new Map(source.map((p) => [p.name, 0]));
      for (const p of source)
        for (const d of new Set(remaining(p))) if (indegree.has(d)) indegree.set(d, indegree.get(d)! + 1);
      const free = [...indegree].filter(([, k]) => k === 0).map(([name]) => name);
      let visited = 0;
      while (free.length > 0) {
        const name = free.pop()!;
        visited++;
        for (const d of new Set(remaining({ name, deps: depsOf.get(name)! })))
          if (indegree.has(d) && indegree.set(d, indegree.get(d)! - 1).get(d) === 0) free.push(d);
      }
      assert.equal(visited, source.length, 'acyclic once the dropped edges are gone');

      // Every dropped edge is needed: put back alone, its target reaches its source again.
      for (const e of plan.droppedEdges) {
        const keptDeps = new Map(source.map((p) => [p.name, remaining(p)]));
        const seen = new Set<string>();
        const stack = [e.to];
        let closes = false;
        while (stack.length > 0 && !closes) {
          const name = stack.pop()!;
          if (name === e.from) closes = true;
          if (seen.has(name)) continue;
          seen.add(name);
          stack.push(...(keptDeps.get(name) ?? []));
        }
        assert.ok(closes, `${e.from} -> ${e.to} was dropped needlessly`);
      }

      // Model: planned exactly when every remaining dependency exists and is planned.
      const importable = new Set<string>();
      for (let changed = true; changed;) {
        changed = false;
        for (const p of source)
          if (!importable.has(p.name) && remaining(p).every((d) => importable.has(d))) {
            importable.add(p.name);
            changed = true;
          }
      }
      assert.deepEqual(new Set(names(plan.order)), importable);

      // Breaking only lets packages in, and says how many.
      const before = new Set(names(without.order));
      for (const name of before) assert.ok(importable.has(name));
      assert.equal(plan.letIn, plan.order.length - before.size);

      // The greedy order never drops more than half of a cycle's edges between distinct packages.
      for (const [i, cycle] of plan.cycles.entries()) {
        const members = new Set(cycle);
        let edges = 0;
        for (const name of cycle)
          for (const d of new Set(depsOf.get(name))) if (d !== name && members.has(d)) edges++;
        const cut = plan.droppedEdges.filter((e) => e.cycle === i && e.from !== e.to).length;
        assert.ok(cut <= edges / 2, `${cut} of ${edges} edges dropped in ${cycle.join(',')}`);
      }
    }),
    { numRuns: 300 },
  );
});
