import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../../src/graph/dependency-graph.js';
import { foldLast } from '../../src/store/compaction.js';

/**
 * A compaction folds only each package's last record into the old snapshot's state (foldLast).
 * The reference is what it replaced: every record replayed in order. The records are the
 * mutations that changed the graph, as the log keeps them.
 */

type Op = { op: 'index'; name: string; deps: string[] } | { op: 'remove'; name: string };

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const name = fc.constantFrom(...NAMES);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('index' as const), name, deps: fc.array(name, { maxLength: 4 }) }),
  fc.record({ op: fc.constant('remove' as const), name }),
);

/** Applies `ops` to `graph`; returns those that changed it (what the log would hold). */
function logged(graph: DependencyGraph, ops: readonly Op[]): Op[] {
  const kept: Op[] = [];
  for (const o of ops) {
    const changed =
      o.op === 'index'
        ? [IndexOutcome.ADDED, IndexOutcome.REPLACED].includes(
            graph.index(o.name, o.deps) as 'added' | 'replaced',
          )
        : graph.remove(o.name) === RemoveOutcome.REMOVED;
    if (changed) kept.push(o);
  }
  return kept;
}

function lastOf(records: readonly Op[]): Map<string, readonly string[] | null> {
  const last = new Map<string, readonly string[] | null>();
  for (const r of records) last.set(r.name, r.op === 'index' ? r.deps : null);
  return last;
}

/** Every package with its dependencies in the graph's order: what a snapshot holds. */
function state(graph: DependencyGraph): Map<string, readonly string[]> {
  return new Map([...graph.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function build(ops: readonly Op[]): DependencyGraph {
  const graph = new DependencyGraph();
  logged(graph, ops);
  return graph;
}

test('property: folding the last record of each package reaches the state a replay of every record reaches', () => {
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 40, size: 'max' }),
      fc.array(op, { maxLength: 120, size: 'max' }),
      (before, during) => {
        // The snapshot, and the same state replayed on through the segments' records.
        const replayed = build(before);
        const records = logged(replayed, during);
        const folded = build(before);
        assert.equal(foldLast(folded, lastOf(records)), null);
        assert.deepEqual(folded.verify(), []);
        assert.deepEqual(state(folded), state(replayed));
      },
    ),
    { numRuns: 1000 },
  );
});

test('a fold whose end state is inconsistent names the package it failed on, and why', () => {
  const snapshot = (): DependencyGraph =>
    build([
      { op: 'index', name: 'a', deps: [] },
      { op: 'index', name: 'b', deps: ['a'] },
    ]);
  // No order of records could leave b depending on a removed a.
  assert.deepEqual(foldLast(snapshot(), new Map([['a', null]])), { name: 'a', why: 'remove: required' });
  // Nor c depending on a package that was never indexed.
  assert.deepEqual(foldLast(snapshot(), new Map([['c', ['x']]])), {
    name: 'c',
    why: 'index: missing-dependency',
  });
  // Nor a cycle among packages the records index...
  assert.deepEqual(
    foldLast(
      snapshot(),
      new Map([
        ['c', ['d']],
        ['d', ['c']],
      ]),
    ),
    { name: 'd', why: 'index: cycle' },
  );
  // ...or through a package they did not touch (b, which still depends on a).
  assert.deepEqual(foldLast(snapshot(), new Map([['a', ['b']]])), { name: 'a', why: 'index: cycle' });
});

test('a chain of 200,000 packages indexed in reverse order folds without a deep recursion', () => {
  // The records' first mention of each name is its dependent's: the walk goes down the whole
  // chain before it indexes anything.
  const n = 200_000;
  const last = new Map<string, readonly string[] | null>();
  for (let i = n - 1; i >= 0; i--) last.set(`p${i}`, i === 0 ? [] : [`p${i - 1}`]);
  const graph = new DependencyGraph();
  assert.equal(foldLast(graph, last), null);
  assert.equal(graph.size, n);
  assert.equal(graph.edgeCount, n - 1);
});
