import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LeftOutReason,
  planImport,
  undefinedNames,
  type LeftOut,
  type SourcePackage,
} from '../../src/import/plan.js';

function names(order: readonly SourcePackage[]): string[] {
  return order.map((p) => p.name);
}

function leftOutByName(leftOut: readonly LeftOut[]): Map<string, LeftOut> {
  return new Map(leftOut.map((l) => [l.name, l]));
}

test('dependencies come before their dependents', () => {
  const plan = planImport([
    { name: 'app', deps: ['gtk', 'glib'] },
    { name: 'gtk', deps: ['glib', 'cairo'] },
    { name: 'cairo', deps: [] },
    { name: 'glib', deps: [] },
  ]);
  const order = names(plan.order);
  assert.equal(order.length, 4);
  assert.ok(order.indexOf('glib') < order.indexOf('gtk'));
  assert.ok(order.indexOf('cairo') < order.indexOf('gtk'));
  assert.ok(order.indexOf('gtk') < order.indexOf('app'));
  assert.deepEqual(plan.leftOut, []);
});

test('a missing dependency leaves the package and its dependents out, naming the root', () => {
  const plan = planImport([
    { name: 'top', deps: ['mid'] },
    { name: 'mid', deps: ['ok', 'ghost'] },
    { name: 'ok', deps: [] },
  ]);
  assert.deepEqual(names(plan.order), ['ok']);
  const out = leftOutByName(plan.leftOut);
  assert.deepEqual(out.get('mid'), {
    name: 'mid',
    reason: LeftOutReason.MISSING_DEPENDENCY,
    missing: 'ghost',
  });
  assert.deepEqual(out.get('top'), {
    name: 'top',
    reason: LeftOutReason.BLOCKED,
    via: 'mid',
    root: 'mid',
    rootReason: LeftOutReason.MISSING_DEPENDENCY,
  });
  assert.deepEqual([...plan.missing], [['ghost', 1]]);
});

test('cycles, including a self-dependency, are left out with everything above them', () => {
  const plan = planImport([
    { name: 'libc6', deps: ['libgcc-s1'] },
    { name: 'libgcc-s1', deps: ['libc6', 'gcc-base'] },
    { name: 'gcc-base', deps: [] },
    { name: 'zlib', deps: ['libc6'] },
    { name: 'app', deps: ['zlib'] },
    { name: 'narcissus', deps: ['narcissus'] },
  ]);
  assert.deepEqual(names(plan.order), ['gcc-base']);
  assert.deepEqual(
    [...plan.cycles].sort((a, b) => a.length - b.length),
    [['narcissus'], ['libc6', 'libgcc-s1']],
  );
  const out = leftOutByName(plan.leftOut);
  assert.equal(out.get('libc6')?.reason, LeftOutReason.CYCLE);
  assert.equal(out.get('narcissus')?.reason, LeftOutReason.CYCLE);
  const app = out.get('app');
  assert.ok(app?.reason === LeftOutReason.BLOCKED);
  assert.equal(app.via, 'zlib');
  assert.equal(app.rootReason, LeftOutReason.CYCLE);
  assert.ok(app.root === 'libc6' || app.root === 'libgcc-s1');
});

test('names the protocol forbids are left out, and so are their dependents', () => {
  const plan = planImport([
    { name: 'has space', deps: [] },
    { name: 'user', deps: ['has space'] },
    { name: 'x'.repeat(256), deps: [] },
    { name: 'ünicode', deps: [] },
    { name: 'fine@1.0/a:b+c_d-e.f', deps: [] },
  ]);
  assert.deepEqual(names(plan.order), ['fine@1.0/a:b+c_d-e.f']);
  const out = leftOutByName(plan.leftOut);
  assert.equal(out.get('has space')?.reason, LeftOutReason.INVALID_NAME);
  assert.equal(out.get('x'.repeat(256))?.reason, LeftOutReason.INVALID_NAME);
  assert.equal(out.get('ünicode')?.reason, LeftOutReason.INVALID_NAME);
  assert.equal(out.get('user')?.reason, LeftOutReason.BLOCKED);
});

test('repeated dependencies count once; a repeated package replaces the earlier one', () => {
  const plan = planImport([
    { name: 'a', deps: ['ghost'] },
    { name: 'b', deps: ['a', 'a'] },
    { name: 'a', deps: [] },
  ]);
  assert.deepEqual(names(plan.order), ['a', 'b']);
  assert.deepEqual(plan.missing.size, 0);
});

test('dependencies the server already holds count as present; the source still decides its own names', () => {
  const source: SourcePackage[] = [
    { name: 'cy-z', deps: ['cy-y'] },
    { name: 'cy-y', deps: ['cy-x'] },
    { name: 'uses-ghost', deps: ['ghost', 'cy-x'] },
    { name: 'bad dep', deps: ['cy-x'] },
    { name: 'odd', deps: ['no way'] },
  ];
  assert.deepEqual(undefinedNames(source), ['cy-x', 'ghost'], 'each once, no forbidden name');
  const alone = planImport(source);
  assert.deepEqual(names(alone.order), []);
  assert.equal(alone.foundIndexed, 0);
  const layered = planImport(source, { indexed: new Set(['cy-x']) });
  assert.deepEqual(names(layered.order), ['cy-y', 'cy-z']);
  assert.equal(layered.foundIndexed, 1);
  assert.deepEqual([...layered.missing.keys()], ['ghost', 'no way']);
  // A name the source defines is planned from the source, whatever the server holds.
  const cycle = planImport(
    [
      { name: 'a', deps: ['b'] },
      { name: 'b', deps: ['a'] },
    ],
    { indexed: new Set(['a', 'b']) },
  );
  assert.deepEqual(names(cycle.order), []);
  assert.equal(cycle.foundIndexed, 0);
});

test('a 100,000-package chain and a 100,000-package cycle need no recursion', () => {
  const n = 100_000;
  const chain: SourcePackage[] = [];
  for (let i = 0; i < n; i++) chain.push({ name: `p${i}`, deps: i === 0 ? [] : [`p${i - 1}`] });
  chain.reverse(); // the root first, so the search goes all the way down before emitting
  const plan = planImport(chain);
  assert.equal(plan.order.length, n);
  assert.equal(plan.order[0]!.name, 'p0');

  const ring = chain.map((p, i) => (i === chain.length - 1 ? { name: p.name, deps: [chain[0]!.name] } : p));
  const ringPlan = planImport(ring);
  assert.equal(ringPlan.order.length, 0);
  assert.equal(ringPlan.cycles.length, 1);
  assert.equal(ringPlan.cycles[0]!.length, n);
});

/** Packages `p0..p{n-1}` with random deps among them plus some names that do not exist. */
const arbitrarySource = fc.integer({ min: 1, max: 30 }).chain((n) =>
  fc.array(
    fc.record({
      deps: fc.array(fc.integer({ min: 0, max: n + 2 }), { maxLength: 4 }),
      invalid: fc.integer({ min: 0, max: 9 }).map((x) => x === 0),
    }),
    { minLength: n, maxLength: n },
  ),
);

function toSource(spec: readonly { deps: readonly number[]; invalid: boolean }[]): SourcePackage[] {
  const n = spec.length;
  const nameOf = (i: number): string => (i >= n ? `ghost${i}` : spec[i]!.invalid ? `bad name ${i}` : `p${i}`);
  return spec.map((s, i) => ({ name: nameOf(i), deps: s.deps.map(nameOf) }));
}

test('property: the plan indexes exactly what the server could accept, in an order it accepts', () => {
  fc.assert(
    fc.property(
      arbitrarySource,
      fc.subarray(Array.from({ length: 33 }, (_, i) => `ghost${i}`)),
      (spec, held) => {
        const source = toSource(spec);
        // Names the source does not define that the server holds (the model's starting point).
        const onServer = new Set(held.filter((n) => !source.some((p) => p.name === n)));
        const depsOf = new Map(source.map((p) => [p.name, p.deps]));
        const valid = (name: string): boolean => /^[A-Za-z0-9._+\-@/:]{1,255}$/.test(name);

        // Model: the least fixpoint of "valid, and every dependency exists and is importable".
        const importable = new Set<string>();
        const present = (d: string): boolean => importable.has(d) || onServer.has(d);
        for (let changed = true; changed;) {
          changed = false;
          for (const p of source)
            if (!importable.has(p.name) && valid(p.name) && p.deps.every(present)) {
              importable.add(p.name);
              changed = true;
            }
        }
        // Model: a package is on a cycle when it reaches itself through existing packages.
        const onCycle = (start: string): boolean => {
          const seen = new Set<string>();
          const stack = [...(depsOf.get(start) ?? [])];
          while (stack.length > 0) {
            const name = stack.pop()!;
            if (name === start) return true;
            if (seen.has(name) || !depsOf.has(name)) continue;
            seen.add(name);
            stack.push(...depsOf.get(name)!);
          }
          return false;
        };

        const plan = planImport(source, { indexed: onServer });
        assert.deepEqual(new Set(names(plan.order)), importable);
        const position = new Map(plan.order.map((p, i) => [p.name, i]));
        for (const p of plan.order)
          for (const d of p.deps) assert.ok(onServer.has(d) || position.get(d)! < position.get(p.name)!);
        for (const d of plan.missing.keys()) assert.ok(!onServer.has(d), `${d} is on the server`);
        assert.equal(plan.order.length + plan.leftOut.length, source.length);
        for (const p of source) {
          const out = plan.leftOut.find((l) => l.name === p.name);
          assert.equal(out?.reason === LeftOutReason.CYCLE, onCycle(p.name), p.name);
          if (out?.reason === LeftOutReason.BLOCKED) assert.ok(!importable.has(out.via));
        }
      },
    ),
    { numRuns: 300 },
  );
});
