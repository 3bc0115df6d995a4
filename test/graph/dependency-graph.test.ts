import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DependencyGraph,
  INDEX_PENDING,
  IndexOutcome,
  RemoveOutcome,
  droppedNames,
  type IndexProgress,
} from '../../src/graph/dependency-graph.js';
import { dependencyCount } from '../../src/graph/package-node.js';
import { ModelIndex } from './support/model.js';
import { nameHash } from '../../src/protocol/name-cache.js';

test('indexes a package only when all its dependencies are indexed', () => {
  const g = new DependencyGraph();
  assert.equal(g.index('b', ['a']), IndexOutcome.MISSING_DEPENDENCY);
  assert.equal(g.has('b'), false);
  assert.equal(g.index('a', []), IndexOutcome.ADDED);
  assert.equal(g.index('b', ['a']), IndexOutcome.ADDED);
  assert.deepEqual(g.stats(), { packages: 2, edges: 1 });
  assert.deepEqual(g.verify(), []);
});

test('names are case-sensitive', () => {
  const g = new DependencyGraph();
  g.index('Qt', []);
  assert.equal(g.has('qt'), false);
  assert.equal(g.index('x', ['qt']), IndexOutcome.MISSING_DEPENDENCY);
});

test('duplicate dependencies count once', () => {
  const g = new DependencyGraph();
  g.index('a', []);
  assert.equal(g.index('b', ['a', 'a', 'a']), IndexOutcome.ADDED);
  assert.deepEqual(g.dependenciesOf('b'), ['a']);
  assert.equal(g.dependentCount('a'), 1);
  assert.equal(g.remove('b'), RemoveOutcome.REMOVED);
  assert.equal(g.remove('a'), RemoveOutcome.REMOVED);
  assert.deepEqual(g.verify(), []);
});

test('re-index replaces the dependency list and moves the dependent counts', () => {
  const g = new DependencyGraph();
  g.index('a', []);
  g.index('b', []);
  g.index('p', ['a']);
  assert.equal(g.index('p', ['a']), IndexOutcome.UNCHANGED);
  assert.equal(g.index('p', ['b', 'a']), IndexOutcome.REPLACED);
  assert.equal(g.index('p', ['a', 'b']), IndexOutcome.UNCHANGED, 'order does not matter');
  assert.equal(g.index('p', ['b']), IndexOutcome.REPLACED);
  assert.equal(g.remove('a'), RemoveOutcome.REMOVED, 'a is no longer needed by p');
  assert.equal(g.remove('b'), RemoveOutcome.REQUIRED);
  assert.equal(g.index('p', []), IndexOutcome.REPLACED);
  assert.equal(g.remove('b'), RemoveOutcome.REMOVED);
  assert.deepEqual(g.stats(), { packages: 1, edges: 0 });
  assert.deepEqual(g.verify(), []);
});

test('a re-index that keeps dependencies in place, appends, drops or reorders keeps every reverse edge exact', () => {
  // #commit leaves a dependency kept at the same position untouched (its dependents' record of
  // it is already right) and rewrites only the ones that moved; a prefix of the list in place
  // is not even visited, unless the list outgrows its block: verify() checks both directions.
  const g = new DependencyGraph();
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const n of names) g.index(n, []);
  // Other dependents of the same packages, so that swap-removals move them around.
  g.index('q', ['a', 'b', 'c']);
  g.index('p', ['a', 'b']);
  g.index('r', ['c', 'a']);
  const dependents = (name: string): string[] => [...g.dependents(g.node(name)!)].map((n) => n.name).sort();
  const steps: [string[], IndexOutcome][] = [
    [['a', 'b', 'c'], IndexOutcome.REPLACED], // appended: a and b stay where they were
    [['a', 'b'], IndexOutcome.REPLACED], // dropped from the end
    [['b', 'a', 'd'], IndexOutcome.REPLACED], // reordered and appended
    [['b', 'c', 'd'], IndexOutcome.REPLACED], // b and d in place, c replaces a
    [['d'], IndexOutcome.REPLACED], // d moves to the front
    [['d', 'a', 'b', 'c'], IndexOutcome.REPLACED],
    [['d', 'a', 'c', 'e', 'f'], IndexOutcome.REPLACED], // d, a in place, b dropped, past the block of 4
    [['d', 'a', 'c', 'e'], IndexOutcome.REPLACED], // the last dropped: all the rest in place
    [['d', 'a', 'c', 'e', 'b', 'f'], IndexOutcome.REPLACED], // two appended within the block
    [['d', 'a', 'b'], IndexOutcome.REPLACED], // b moves into the place of c, the tail dropped
    [['d', 'd', 'a', 'f'], IndexOutcome.REPLACED], // a duplicate ends the prefix
  ];
  for (const [deps, outcome] of steps) {
    assert.equal(g.index('p', deps), outcome, `INDEX p|${deps.join(',')}`);
    assert.deepEqual(g.verify(), [], `after INDEX p|${deps.join(',')}`);
    assert.deepEqual(g.dependenciesOf('p'), [...new Set(deps)]);
    for (const n of names)
      assert.equal(dependents(n).includes('p'), deps.includes(n), `${n} lists p as a dependent`);
  }
  assert.equal(g.remove('q'), RemoveOutcome.REMOVED);
  assert.equal(g.remove('r'), RemoveOutcome.REMOVED);
  assert.deepEqual(g.verify(), []);
  assert.deepEqual(dependents('a'), ['p']);
});

test('edge slots: lists outgrowing their block, blocks given back and taken again, the pool grown', () => {
  // Each package's edges have a block of slots in one pool (package-node.ts), and its
  // dependents another: a list that outgrows its block moves every kept edge to a larger
  // one; a removed package's blocks are reused by the next of their size; the pool grows
  // past its first allocation; a package's dependents move to smaller blocks as they go.
  const g = new DependencyGraph();
  const base = Array.from({ length: 40 }, (_, i) => `b${i}`);
  for (const n of base) g.index(n, []);
  for (let k = 1; k <= 40; k++) {
    // p's list grows through blocks of 2, 4, …, 64 slots while other dependents come and go.
    assert.equal(g.index('p', base.slice(0, k)), k === 1 ? IndexOutcome.ADDED : IndexOutcome.REPLACED);
    assert.equal(g.index(`u${k}`, base.slice(k - 1, k + 3)), IndexOutcome.ADDED);
    if (k % 3 === 0) assert.equal(g.remove(`u${k - 1}`), RemoveOutcome.REMOVED);
    assert.deepEqual(g.verify(), [], `after p lists ${k}`);
  }
  // Down to none and back: the block is kept.
  assert.equal(g.index('p', []), IndexOutcome.REPLACED);
  assert.deepEqual(g.verify(), []);
  assert.equal(g.index('p', base.slice(10, 30).reverse()), IndexOutcome.REPLACED);
  assert.deepEqual(g.verify(), []);
  // A package that never had a dependency takes its first block.
  g.index('z', []);
  assert.equal(g.index('z', ['b0', 'b1', 'b2']), IndexOutcome.REPLACED);
  assert.deepEqual(g.verify(), []);
  const present = new Set<number>();
  for (let round = 0; round < 3; round++) {
    // 600 packages of 1 to 5 dependencies: thousands of words, past the pool's first 1,024.
    for (let i = 0; i < 600; i++) {
      const deps = ['p', ...base.slice(i % 35, (i % 35) + ((i + round) % 5))];
      const outcome = g.index(`m${i}`, deps);
      assert.equal(outcome, present.has(i) ? IndexOutcome.REPLACED : IndexOutcome.ADDED);
      present.add(i);
    }
    assert.deepEqual(g.verify(), [], `round ${round}, all indexed`);
    // Every other one removed: their blocks go back to the pool, for the next round's.
    for (let i = round % 2; i < 600; i += 2) {
      assert.equal(g.remove(`m${i}`), RemoveOutcome.REMOVED);
      present.delete(i);
    }
    assert.deepEqual(g.verify(), [], `round ${round}, half removed`);
    assert.equal(g.dependentCount('p'), present.size);
  }
  // p's dependents shrink to blocks an eighth full, then smaller ones: checked on the way down.
  for (const i of [...present]) {
    assert.equal(g.remove(`m${i}`), RemoveOutcome.REMOVED);
    present.delete(i);
    if ((present.size & (present.size - 1)) === 0) assert.deepEqual(g.verify(), [], `${present.size} left`);
  }
  assert.equal(g.dependentCount('p'), 0);
  assert.deepEqual(g.verify(), []);
});

test('a failed re-index changes nothing', () => {
  const g = new DependencyGraph();
  g.index('a', []);
  g.index('p', ['a']);
  assert.equal(g.index('p', ['a', 'missing']), IndexOutcome.MISSING_DEPENDENCY);
  assert.deepEqual(g.dependenciesOf('p'), ['a']);
  assert.equal(g.dependentCount('a'), 1);
});

test('refuses self-dependencies and cycles, direct and transitive', () => {
  const g = new DependencyGraph();
  assert.equal(g.index('a', ['a']), IndexOutcome.MISSING_DEPENDENCY, 'a is not indexed yet');
  g.index('a', []);
  assert.equal(g.index('a', ['a']), IndexOutcome.CYCLE);
  g.index('b', ['a']);
  g.index('c', ['b']);
  assert.equal(g.index('a', ['b']), IndexOutcome.CYCLE);
  assert.equal(g.index('a', ['c']), IndexOutcome.CYCLE);
  g.index('d', []);
  assert.equal(g.index('a', ['d']), IndexOutcome.REPLACED, 'a diamond-free new edge is fine');
  assert.deepEqual(g.verify(), []);
});

test('remove: absent is OK, required is refused, a leaf is removed', () => {
  const g = new DependencyGraph();
  assert.equal(g.remove('nothing'), RemoveOutcome.ABSENT);
  g.index('a', []);
  g.index('b', ['a']);
  assert.equal(g.remove('a'), RemoveOutcome.REQUIRED);
  assert.equal(g.has('a'), true);
  assert.equal(g.remove('b'), RemoveOutcome.REMOVED);
  assert.equal(g.remove('a'), RemoveOutcome.REMOVED);
  assert.equal(g.size, 0);
});

test('topological order lists dependencies before dependents', () => {
  const g = new DependencyGraph();
  g.index('z', []);
  g.index('y', ['z']);
  g.index('x', ['y', 'z']);
  g.index('w', ['x']);
  const seen = new Set<string>();
  for (const [name, deps] of g.topological()) {
    for (const d of deps) assert.ok(seen.has(d), `${d} before ${name}`);
    seen.add(name);
  }
  assert.equal(seen.size, 4);
});

// ---- property tests against a simple model ----

test('property: the graph agrees with the model on random command sequences', () => {
  const name = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const op = fc.oneof(
    fc.record({ op: fc.constant('index' as const), name, deps: fc.array(name, { maxLength: 4 }) }),
    fc.record({ op: fc.constant('remove' as const), name }),
    fc.record({ op: fc.constant('query' as const), name }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80, size: 'max' }), (ops) => {
      const g = new DependencyGraph();
      const m = new ModelIndex();
      for (const o of ops) {
        if (o.op === 'index') {
          assert.equal(
            g.index(o.name, o.deps),
            m.index(o.name, o.deps),
            `INDEX ${o.name} ${o.deps.join(',')}`,
          );
        } else if (o.op === 'remove') {
          assert.equal(g.remove(o.name), m.remove(o.name), `REMOVE ${o.name}`);
        } else {
          assert.equal(g.has(o.name), m.deps.has(o.name));
        }
      }
      assert.deepEqual(g.verify(), []);
      for (const [n, ds] of m.deps) assert.deepEqual(new Set(g.dependenciesOf(n)), ds);
      assert.equal(g.size, m.deps.size);
    }),
    { numRuns: 500 },
  );
});

test('property: names looked up by key (right, colliding, wrong or none; strings shared or copied) agree with the model', () => {
  const name = fc.constantFrom('pkg-a', 'pkg-b', 'pkg-c', 'pkg-d', 'pkg-e', 'pkg-f');
  // How a command's keys are made: the parser's hash, one key for every name (all in one set
  // of the graph's cache, more names than it has ways), arbitrary numbers, or no keys at all.
  const keying = fc.constantFrom('hash', 'collide', 'wrong', 'none');
  const how = { keying, seed: fc.integer({ min: 0, max: 0x3fffffff }), copy: fc.boolean() };
  const op = fc.oneof(
    fc.record({ op: fc.constant('index' as const), name, deps: fc.array(name, { maxLength: 4 }), ...how }),
    fc.record({ op: fc.constant('remove' as const), name, ...how }),
    fc.record({ op: fc.constant('query' as const), name, ...how }),
  );
  type How = { keying: string; seed: number; copy: boolean };
  const keyOf = (n: string, h: How, i: number): number =>
    h.keying === 'hash'
      ? nameHash(Buffer.from(n, 'latin1'), 0, n.length)
      : h.keying === 'collide'
        ? 7
        : (h.seed + i * 7919) & 0x3fffffff;
  // A copy is another string object with the same characters: found by content, not identity.
  const text = (n: string, h: How): string => (h.copy ? Buffer.from(n, 'latin1').toString('latin1') : n);
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80, size: 'max' }), (ops) => {
      const g = new DependencyGraph();
      const m = new ModelIndex();
      for (const o of ops) {
        const names = [o.name, ...(o.op === 'index' ? o.deps : [])];
        const keys = o.keying === 'none' ? undefined : names.map((n, i) => keyOf(n, o, i));
        const label = `${o.op} ${names.join(',')} keys ${o.keying}`;
        if (o.op === 'index') {
          const deps = o.deps.map((d) => text(d, o));
          assert.equal(g.index(text(o.name, o), deps, keys), m.index(o.name, o.deps), label);
        } else if (o.op === 'remove') {
          assert.equal(g.remove(text(o.name, o), keys?.[0]), m.remove(o.name), label);
        } else {
          assert.equal(g.has(text(o.name, o), keys?.[0]), m.deps.has(o.name), label);
        }
      }
      assert.deepEqual(g.verify(), []);
      for (const n of ['pkg-a', 'pkg-b', 'pkg-c', 'pkg-d', 'pkg-e', 'pkg-f'])
        for (const key of [nameHash(Buffer.from(n, 'latin1'), 0, n.length), 7])
          assert.equal(g.has(n, key), m.deps.has(n), `${n} by key ${key}`);
      assert.equal(g.size, m.deps.size);
    }),
    { numRuns: 500 },
  );
});

test("a removed package added back is its name's package again, by name or by key", () => {
  const key = (n: string): number => nameHash(Buffer.from(n, 'latin1'), 0, n.length);
  const g = new DependencyGraph();
  g.index('base', [], [key('base')]);
  g.index('leaf', ['base'], [key('leaf'), key('base')]);
  const held = g.node('leaf')!;
  assert.equal(g.remove('leaf', key('leaf')), RemoveOutcome.REMOVED);
  // A query that held it reads no dependencies: the removed package keeps none.
  assert.equal(dependencyCount(held), 0);
  assert.equal(g.has('leaf'), false);
  assert.equal(g.has('leaf', key('leaf')), false);
  assert.equal(g.node('leaf'), undefined);
  assert.equal(g.index('x', ['leaf'], [key('x'), key('leaf')]), IndexOutcome.MISSING_DEPENDENCY);
  assert.equal(g.index('x', ['leaf']), IndexOutcome.MISSING_DEPENDENCY);
  assert.equal(g.remove('leaf', key('leaf')), RemoveOutcome.ABSENT);
  assert.deepEqual(
    [...g.nodes()].map((n) => n.name),
    ['base'],
  );
  assert.deepEqual([...g.entries()], [['base', []]]);
  assert.equal(g.size, 1);
  assert.equal(g.removedHeld, 1);
  assert.deepEqual(g.verify(), []);

  assert.equal(g.index('leaf', ['base']), IndexOutcome.ADDED);
  assert.equal(g.index('x', ['leaf'], [key('x'), key('leaf')]), IndexOutcome.ADDED);
  assert.equal(g.remove('leaf', key('leaf')), RemoveOutcome.REQUIRED);
  assert.deepEqual(g.dependenciesOf('x'), ['leaf']);
  assert.equal(g.dependentCount('leaf'), 1);
  assert.equal(g.size, 3);
  assert.equal(g.removedHeld, 0);
  assert.deepEqual(g.verify(), []);
});

test('removed packages are swept out of the map: it holds a bounded number beyond the indexed ones', () => {
  const key = (n: string): number => nameHash(Buffer.from(n, 'latin1'), 0, n.length);
  const g = new DependencyGraph();
  const names = Array.from({ length: 6000 }, (_, i) => `p${i}`);
  g.index('base', []);
  for (const n of names) assert.equal(g.index(n, ['base'], [key(n), key('base')]), IndexOutcome.ADDED);
  const sorted = g.sortedNames();
  let most = 0;
  for (const n of names) {
    assert.equal(g.remove(n, key(n)), RemoveOutcome.REMOVED);
    most = Math.max(most, g.removedHeld - g.size);
  }
  // SWEEP_SLACK (1024) past the indexed ones, plus what one sweep step can leave.
  assert.ok(most <= 1024 + 1, `removed packages held beyond the indexed: ${most}`);
  assert.ok(g.removedHeld <= 1024 + 1, `removed packages held at the end: ${g.removedHeld}`);
  assert.deepEqual(g.verify(), []);
  // Swept or not, every name looks absent, by key or by name, and comes back when added.
  for (const n of names) assert.equal(g.has(n, key(n)) || g.has(n), false, n);
  for (const n of names.slice(0, 3000)) assert.equal(g.index(n, [], [key(n)]), IndexOutcome.ADDED);
  names.forEach((n, i) => {
    assert.equal(g.has(n, key(n)), i < 3000, n);
  });
  assert.equal(g.size, 3001);
  while (!sorted.maintain(1 << 20));
  assert.deepEqual(g.verify(), []);
});

test('property: re-indexing with the previous list, edited, agrees with the model, outcome included', () => {
  // index() takes a dependency from the entry's own list when the name at the same position is
  // equal: lists that keep, extend, shorten, reorder or repeat the previous one exercise it.
  // Names are fresh string objects each time, as they are when not interned by the parser.
  const fresh = (s: string) => Buffer.from(s, 'latin1').toString('latin1');
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const edit = fc.constantFrom('same', 'append', 'drop-last', 'drop-first', 'swap', 'repeat', 'prepend');
  const op = fc.oneof(
    fc.record({
      op: fc.constant('edit' as const),
      name: fc.constantFrom(...names),
      edit,
      extra: fc.constantFrom(...names),
    }),
    fc.record({ op: fc.constant('remove' as const), name: fc.constantFrom(...names) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80, size: 'max' }), (ops) => {
      const g = new DependencyGraph();
      const m = new ModelIndex();
      for (const n of names.slice(0, 3)) {
        g.index(n, []);
        m.index(n, []);
      }
      for (const o of ops) {
        if (o.op === 'remove') {
          assert.equal(g.remove(o.name), m.remove(o.name));
          continue;
        }
        const prev = g.dependenciesOf(o.name) ?? [];
        let deps: string[];
        switch (o.edit) {
          case 'same':
            deps = [...prev];
            break;
          case 'append':
            deps = [...prev, o.extra];
            break;
          case 'drop-last':
            deps = prev.slice(0, -1);
            break;
          case 'drop-first':
            deps = prev.slice(1);
            break;
          case 'swap':
            deps = prev.length < 2 ? [...prev] : [prev[1]!, prev[0]!, ...prev.slice(2)];
            break;
          case 'repeat':
            deps = prev.length === 0 ? [o.extra] : [prev[0]!, ...prev];
            break;
          case 'prepend':
            deps = [o.extra, ...prev];
            break;
        }
        deps = deps.map(fresh);
        assert.equal(
          g.index(fresh(o.name), deps),
          m.index(o.name, deps),
          `INDEX ${o.name} ${deps.join(',')}`,
        );
      }
      assert.deepEqual(g.verify(), []);
      for (const [n, ds] of m.deps) assert.deepEqual(new Set(g.dependenciesOf(n)), ds);
      assert.equal(g.size, m.deps.size);
    }),
    { numRuns: 500 },
  );
});

/** The graph's dependents of every package, sorted, against the model's. */
function assertSameDependents(g: DependencyGraph, m: ModelIndex): void {
  for (const name of m.deps.keys()) {
    const node = g.node(name)!;
    const got = [...g.dependents(node)].map((n) => n.name).sort();
    assert.deepEqual(got, m.dependents(name), `dependents of ${name}`);
    assert.equal(node.dependents, got.length);
    assert.equal(g.dependentCount(name), got.length);
  }
}

function assertSameState(g: DependencyGraph, m: ModelIndex): void {
  assert.deepEqual(g.verify(), []);
  assert.equal(g.size, m.deps.size);
  for (const [n, ds] of m.deps) assert.deepEqual(new Set(g.dependenciesOf(n)), ds);
  assert.equal(g.rootCount, [...m.deps.values()].filter((ds) => ds.size === 0).length);
  assert.equal(g.leafCount, m.names().filter((n) => m.dependents(n).length === 0).length);
}

type Op = { op: 'index'; name: string; deps: readonly string[] } | { op: 'remove'; name: string };

/** Indexes `first` without dependencies, then runs `ops` on both, checking every invariant after each. */
function runChecked(g: DependencyGraph, m: ModelIndex, first: readonly string[], ops: readonly Op[]): void {
  for (const n of first) assert.equal(g.index(n, []), m.index(n, []));
  for (const o of ops) {
    if (o.op === 'index')
      assert.equal(g.index(o.name, o.deps), m.index(o.name, o.deps), `INDEX ${o.name}|${o.deps.join(',')}`);
    else assert.equal(g.remove(o.name), m.remove(o.name), `REMOVE ${o.name}`);
    assert.deepEqual(g.verify(), [], `after ${o.op} ${o.name}`);
  }
  assertSameState(g, m);
  assertSameDependents(g, m);
}

test('property: every step agrees with the model and keeps every invariant (order, reverse edges)', () => {
  // Ten names, lists of up to five: chains, diamonds and re-indexes that would close cycles
  // through several packages, with verify() after every command.
  const name = fc.constantFrom(...'abcdefghij'.split(''));
  const op = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('index' as const),
        name,
        deps: fc.array(name, { maxLength: 5 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), name }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120, size: 'max' }), (ops) => {
      runChecked(new DependencyGraph(), new ModelIndex(), [], ops);
    }),
    { numRuns: 400 },
  );
});

test('property: re-indexes that rewire a graph of ten packages agree with the model (the order under load)', () => {
  // Every package indexed first, in a random order and without dependencies, so that nearly
  // every later INDEX replaces a list: edges against the order, searches on both sides, cycles.
  const names = 'abcdefghij'.split('');
  const name = fc.constantFrom(...names);
  const op = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        op: fc.constant('index' as const),
        name,
        deps: fc.array(name, { maxLength: 4 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), name }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('index' as const), name, deps: fc.constant([]) }) },
  );
  fc.assert(
    fc.property(
      fc.shuffledSubarray(names, { minLength: 10 }),
      fc.array(op, { maxLength: 150, size: 'max' }),
      (first, ops) => {
        runChecked(new DependencyGraph(), new ModelIndex(), first, ops);
      },
    ),
    { numRuns: 400 },
  );
});

test('property: re-indexes in a small region between long closures agree with the model (PK reordering)', () => {
  // A low chain, ten middle packages on it, a high chain on them: rewiring the middle ones
  // leaves a small affected region while both closures reach far beyond it, so the order is
  // repaired by swapping positions inside the region, not by moving a closure to an end.
  const middle = Array.from({ length: 10 }, (_, i) => `m${i}`);
  const op = fc.record({
    name: fc.constantFrom(...middle),
    deps: fc.array(fc.constantFrom(...middle, 'low0', 'low29'), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(
      fc.array(fc.subarray(middle), { minLength: 3, maxLength: 3 }),
      fc.array(op, { maxLength: 80, size: 'max' }),
      (highDeps, ops) => {
        const g = new DependencyGraph();
        const m = new ModelIndex();
        const run = (name: string, deps: string[]): void => {
          assert.equal(g.index(name, deps), m.index(name, deps), `INDEX ${name}|${deps.join(',')}`);
        };
        for (let i = 0; i < 30; i++) run(`low${i}`, i === 0 ? [] : [`low${i - 1}`]);
        for (const name of middle) run(name, ['low29']);
        for (let i = 0; i < 30; i++) run(`high${i}`, i < 3 ? highDeps[i]! : [`high${i - 1}`, `high${i - 3}`]);
        for (const o of ops) {
          run(o.name, o.deps);
          assert.deepEqual(g.verify(), [], `after INDEX ${o.name}|${o.deps.join(',')}`);
        }
        assertSameState(g, m);
        assertSameDependents(g, m);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: packages with many dependents (kept in a Set) agree with the model', () => {
  // 48 packages over 3 hubs: dependents cross SET_ABOVE (32) both ways as packages come and go.
  const hubs = ['h0', 'h1', 'h2'];
  const users = Array.from({ length: 48 }, (_, i) => `u${i}`);
  const op = fc.oneof(
    fc.record({
      op: fc.constant('index' as const),
      name: fc.constantFrom(...users),
      deps: fc.subarray(hubs),
    }),
    fc.record({ op: fc.constant('index' as const), name: fc.constantFrom(...hubs), deps: fc.subarray(hubs) }),
    fc.record({ op: fc.constant('remove' as const), name: fc.constantFrom(...users, ...hubs) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300, size: 'max' }), (ops) => {
      const g = new DependencyGraph();
      const m = new ModelIndex();
      for (const h of hubs) assert.equal(g.index(h, []), m.index(h, []));
      for (const o of ops) {
        if (o.op === 'index') assert.equal(g.index(o.name, o.deps), m.index(o.name, o.deps));
        else assert.equal(g.remove(o.name), m.remove(o.name));
      }
      assertSameState(g, m);
      assertSameDependents(g, m);
    }),
    { numRuns: 150 },
  );
});

test('property: a re-index run in slices of a few units agrees with the model; reads see the state before it', () => {
  const name = fc.constantFrom(...'abcdefghij'.split(''));
  const op = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('index' as const),
        name,
        deps: fc.array(name, { maxLength: 5 }),
        budget: fc.integer({ min: 1, max: 12 }),
        cancel: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), name }) },
  );
  fc.assert(
    fc.property(
      fc.shuffledSubarray('abcdefghij'.split('')),
      fc.array(op, { maxLength: 100, size: 'max' }),
      (first, ops) => {
        const g = new DependencyGraph();
        const m = new ModelIndex();
        for (const n of first) assert.equal(g.index(n, []), m.index(n, []));
        for (const o of ops) {
          if (o.op === 'remove') {
            assert.equal(g.remove(o.name), m.remove(o.name));
            continue;
          }
          let progress: IndexProgress = g.indexWithin(o.name, o.deps, o.budget);
          let slices = 0;
          while (progress === INDEX_PENDING) {
            assert.equal(g.pending, true);
            assert.ok(
              g.lastWork <= o.budget + 64,
              `slice of ${g.lastWork} units for a budget of ${o.budget}`,
            );
            // Reads see the graph as it was; changes are refused.
            assert.deepEqual(new Set(g.dependenciesOf(o.name)), m.deps.get(o.name));
            assert.throws(() => g.index('a', []), { code: 'E_GRAPH_BUSY' });
            assert.throws(() => g.remove('a'), { code: 'E_GRAPH_BUSY' });
            if (o.cancel && slices === 1) {
              g.cancelIndex();
              break;
            }
            progress = g.resumeIndex(o.budget);
            slices++;
          }
          if (progress === INDEX_PENDING) {
            // Cancelled: nothing changed, and the order still holds.
            assert.equal(g.pending, false);
            assert.deepEqual(g.verify(), []);
            continue;
          }
          assert.equal(
            progress,
            m.index(o.name, o.deps),
            `INDEX ${o.name}|${o.deps.join(',')} in slices of ${o.budget}`,
          );
          assert.deepEqual(g.verify(), []);
        }
        assertSameState(g, m);
        assertSameDependents(g, m);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: with keepDropped(), every change hands back the list it took, whole or in slices, and later changes leave it as it was', () => {
  const name = fc.constantFrom(...'abcdefgh'.split(''));
  const op = fc.oneof(
    fc.record({
      op: fc.constant('index' as const),
      name,
      deps: fc.array(name, { maxLength: 4 }),
      budget: fc.integer({ min: 1, max: 8 }),
    }),
    fc.record({ op: fc.constant('remove' as const), name }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const g = new DependencyGraph();
      g.keepDropped();
      // Every list handed back, with the names it had then: none may change afterwards.
      const handed: [ReturnType<typeof droppedNames>, NonNullable<typeof g.dropped>][] = [];
      for (const o of ops) {
        const had = g.dependenciesOf(o.name) ?? null;
        let changed: boolean;
        if (o.op === 'remove') changed = g.remove(o.name) === RemoveOutcome.REMOVED;
        else {
          let progress: IndexProgress = g.indexWithin(o.name, o.deps, o.budget);
          while (progress === INDEX_PENDING) progress = g.resumeIndex(o.budget);
          changed = progress === IndexOutcome.ADDED || progress === IndexOutcome.REPLACED;
        }
        if (!changed) continue;
        const dropped = g.dropped;
        if (had === null) assert.equal(dropped, null, `${o.op} ${o.name} added it`);
        else {
          assert.notEqual(dropped, null);
          assert.deepEqual(droppedNames(dropped!), had, `${o.op} ${o.name} hands back what it had`);
          handed.push([had as string[], dropped!]);
        }
      }
      for (const [names, dropped] of handed) assert.deepEqual(droppedNames(dropped), names);
    }),
    { numRuns: 300 },
  );
});

test('without keepDropped() the graph keeps nothing of what it drops', () => {
  const g = new DependencyGraph();
  g.index('a', []);
  g.index('b', ['a']);
  g.index('b', []);
  assert.equal(g.dropped, null);
  g.remove('b');
  assert.equal(g.dropped, null);
});

test('a long chain: the re-index that would close a cycle is refused, in slices too', () => {
  const g = new DependencyGraph();
  const n = 2000;
  g.index('q0', []);
  for (let i = 1; i <= n; i++) g.index(`q${i}`, [`q${i - 1}`]);
  assert.equal(g.index('q0', [`q${n}`]), IndexOutcome.CYCLE);
  assert.ok(g.lastWork >= n, `the check walked the chain (${g.lastWork} units)`);
  let progress = g.indexWithin('q0', [`q${n}`], 100);
  let slices = 1;
  while (progress === INDEX_PENDING) {
    progress = g.resumeIndex(100);
    slices++;
  }
  assert.equal(progress, IndexOutcome.CYCLE);
  assert.ok(slices >= n / 100, `${slices} slices`);
  // An edge that agrees with the order costs no search.
  g.index('top', []);
  assert.equal(g.index(`q${n}`, [`q${n - 1}`, 'q0']), IndexOutcome.REPLACED);
  assert.ok(g.lastWork <= 2, `${g.lastWork} units`);
  assert.deepEqual(g.verify(), []);
});

test('a re-index that moves a package above a dependency it gains keeps the order (all three plans)', () => {
  const g = new DependencyGraph();
  const m = new ModelIndex();
  const run = (name: string, deps: string[]) => {
    assert.equal(g.index(name, deps), m.index(name, deps), `INDEX ${name}|${deps.join(',')}`);
    assert.deepEqual(g.verify(), []);
  };
  // b below many, then gains a dependency indexed after all of them: its few dependents move up.
  run('b', []);
  for (let i = 0; i < 20; i++) run(`x${i}`, i === 0 ? [] : [`x${i - 1}`]);
  run('c', ['b']);
  run('d', ['c']);
  run('late', ['x19']);
  run('b', ['late']);
  // A package with many dependents gains a fresh, small dependency: the dependency moves down.
  for (let i = 0; i < 30; i++) run(`user${i}`, ['x0']);
  run('fresh', []);
  run('x0', ['fresh']);
  // Both sides bounded: neither search sees all of its closure.
  run('p', ['x5']);
  run('q', ['p']);
  run('r', ['x10']);
  run('s', ['r', 'x3']);
  run('x7', ['x6', 'q']);
  run('x2', ['x1', 's']);
  assert.equal(g.index('x1', ['x19']), IndexOutcome.CYCLE);
  assertSameState(g, m);
  assertSameDependents(g, m);
});

test('while a re-index is pending, topological() refuses and verify() says so', () => {
  const g = new DependencyGraph();
  for (let i = 0; i < 50; i++) g.index(`c${i}`, i === 0 ? [] : [`c${i - 1}`]);
  g.index('new', []);
  assert.equal(g.indexWithin('c0', ['new'], 1), INDEX_PENDING);
  assert.throws(() => [...g.topological()], { code: 'E_GRAPH_BUSY' });
  assert.match(g.verify().join(), /pending/);
  assert.equal(g.has('c10'), true);
  while (g.resumeIndex(5) === INDEX_PENDING);
  assert.deepEqual(g.dependenciesOf('c0'), ['new']);
  assert.deepEqual(g.verify(), []);
  assert.throws(() => g.resumeIndex(1), { code: 'E_GRAPH_IDLE' });
});

test('packages nothing depends on stay out of the reverse edges until needed, and still close no cycle unseen', () => {
  // A leaf is added, re-indexed and removed with its edges only counted (DependencyGraph's
  // header); a cycle through one, or a query of dependents, links it first.
  const g = new DependencyGraph();
  g.index('a', []);
  g.index('b', ['a']);
  g.index('c', ['b']);
  assert.equal(g.index('a', ['c']), IndexOutcome.CYCLE, 'c depends on a through b: a cannot depend on c');
  assert.equal(g.index('d', ['a']), IndexOutcome.ADDED);
  assert.equal(g.index('d', ['a', 'c']), IndexOutcome.REPLACED);
  assert.equal(g.remove('d'), RemoveOutcome.REMOVED);
  assert.equal(g.index('e', ['c']), IndexOutcome.ADDED);
  assert.deepEqual(
    [...g.dependents(g.node('c')!)].map((n) => n.name),
    ['e'],
  );
  assert.deepEqual(
    [...g.dependents(g.node('a')!)].map((n) => n.name),
    ['b'],
  );
  assert.equal(g.index('b', ['a', 'e']), IndexOutcome.CYCLE, 'e depends on b through c');
  assert.deepEqual(g.verify(), []);
});
