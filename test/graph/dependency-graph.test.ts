import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../../src/graph/dependency-graph.js';

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

// ---- property test against a simple model ----

/** The rules, written naively: a map of sets, full DFS for cycles, full scan for dependents. */
class ModelIndex {
  readonly deps = new Map<string, Set<string>>();

  index(name: string, deps: string[]): boolean {
    if (!deps.every((d) => this.deps.has(d))) return false;
    if (this.deps.has(name)) {
      const reaches = (from: string, seen = new Set<string>()): boolean => {
        if (from === name) return true;
        if (seen.has(from)) return false;
        seen.add(from);
        return [...this.deps.get(from)!].some((d) => reaches(d, seen));
      };
      if (deps.some((d) => reaches(d))) return false;
    }
    this.deps.set(name, new Set(deps));
    return true;
  }

  remove(name: string): boolean {
    if (!this.deps.has(name)) return true;
    for (const ds of this.deps.values()) if (ds.has(name)) return false;
    this.deps.delete(name);
    return true;
  }
}

test('property: the graph agrees with the model on random command sequences', () => {
  const name = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const op = fc.oneof(
    fc.record({ op: fc.constant('index' as const), name, deps: fc.array(name, { maxLength: 4 }) }),
    fc.record({ op: fc.constant('remove' as const), name }),
    fc.record({ op: fc.constant('query' as const), name }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const g = new DependencyGraph();
      const m = new ModelIndex();
      for (const o of ops) {
        if (o.op === 'index') {
          const outcome = g.index(o.name, o.deps);
          const ok =
            outcome === IndexOutcome.ADDED ||
            outcome === IndexOutcome.REPLACED ||
            outcome === IndexOutcome.UNCHANGED;
          assert.equal(ok, m.index(o.name, o.deps), `INDEX ${o.name} ${o.deps.join(',')}`);
        } else if (o.op === 'remove') {
          assert.equal(g.remove(o.name) !== RemoveOutcome.REQUIRED, m.remove(o.name), `REMOVE ${o.name}`);
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
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const g = new DependencyGraph();
      const m = new ModelIndex();
      for (const n of names.slice(0, 3)) {
        g.index(n, []);
        m.index(n, []);
      }
      for (const o of ops) {
        if (o.op === 'remove') {
          assert.equal(g.remove(o.name) !== RemoveOutcome.REQUIRED, m.remove(o.name));
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
        const before = m.deps.get(o.name);
        const outcome = g.index(fresh(o.name), deps);
        const accepted = m.index(o.name, deps);
        const expected: IndexOutcome[] = !accepted
          ? [IndexOutcome.MISSING_DEPENDENCY, IndexOutcome.CYCLE]
          : before === undefined
            ? [IndexOutcome.ADDED]
            : before.size === new Set(deps).size && deps.every((d) => before.has(d))
              ? [IndexOutcome.UNCHANGED]
              : [IndexOutcome.REPLACED];
        assert.ok(expected.includes(outcome), `INDEX ${o.name} ${deps.join(',')}: ${outcome}`);
      }
      assert.deepEqual(g.verify(), []);
      for (const [n, ds] of m.deps) assert.deepEqual(new Set(g.dependenciesOf(n)), ds);
      assert.equal(g.size, m.deps.size);
    }),
    { numRuns: 500 },
  );
});
