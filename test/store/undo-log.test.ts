import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Verb, type Command } from '../../src/protocol/command.js';
import { DependencyGraph, IndexOutcome } from '../../src/graph/dependency-graph.js';
import { applyCommand } from '../../src/store/apply-command.js';
import { UndoLog } from '../../src/store/undo-log.js';
import { stateOf } from './support/workload.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const command = fc.oneof(
  fc.record({
    verb: fc.constant(Verb.INDEX),
    name: fc.constantFrom(...NAMES),
    deps: fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }),
  }),
  fc.record({ verb: fc.constant(Verb.REMOVE), name: fc.constantFrom(...NAMES) }),
) as fc.Arbitrary<Command>;

/**
 * The graph keeps the lists it rewrites either as arrays of their own (`keepDropped()`) or in
 * the undo log's ring (`keepDropped(undo)`, what the disk store does): each property runs both.
 */
const SINKS = [
  {
    how: 'lists as arrays',
    keep: (graph: DependencyGraph): void => {
      graph.keepDropped();
    },
  },
  {
    how: "lists in the log's ring",
    keep: (graph: DependencyGraph, undo?: UndoLog): void => {
      graph.keepDropped(undo);
    },
  },
];

for (const { how, keep } of SINKS)
  test(`rolling back to record k gives exactly the state after the first k records (${how})`, () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 80 }), fc.nat(), fc.nat(), (commands, trimAt, keepAt) => {
        const graph = new DependencyGraph();
        const undo = new UndoLog();
        keep(graph, undo);
        const states: string[][] = [stateOf(graph)];
        for (const c of commands) {
          if (applyCommand(graph, c).changed) {
            // What the graph hands back, as the disk store does: no copy of its own.
            undo.push(c.name, graph.dropped);
            states.push(stateOf(graph));
          }
        }
        const records = states.length - 1;
        const durable = records === 0 ? 0 : trimAt % (records + 1);
        undo.trim(durable);
        const kept = durable + (records - durable === 0 ? 0 : keepAt % (records - durable + 1));
        assert.equal(undo.rollback(graph, kept), records - kept);
        assert.deepEqual(stateOf(graph), states[kept]);
        assert.deepEqual(graph.verify(), []);
        assert.equal(undo.end, kept);
      }),
      { numRuns: 500 },
    );
  });

// Random lines mostly fail (a missing dependency), so the property above seldom undoes a list of
// several dependencies (1 run in 500): here every package is indexed first and depends only on
// packages before it, so most changes replace or remove lists of two and three.
const acyclic = fc
  .tuple(fc.integer({ min: 1, max: NAMES.length - 1 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 4 }))
  .map(([at, remove, picks]): Command => {
    const name = NAMES[at]!;
    if (remove) return { verb: Verb.REMOVE, name };
    return { verb: Verb.INDEX, name, deps: picks.map((p) => NAMES[p % at]!) };
  });

for (const { how, keep } of SINKS)
  test(`rolling back restores lists of several dependencies exactly, in their order (${how})`, () => {
    fc.assert(
      fc.property(fc.array(acyclic, { minLength: 1, maxLength: 40 }), fc.nat(), (commands, keepAt) => {
        const graph = new DependencyGraph();
        const undo = new UndoLog();
        keep(graph, undo);
        for (const name of NAMES) graph.index(name, []);
        const states: string[][] = [stateOf(graph)];
        const lists: string[][] = [NAMES.map((n) => (graph.dependenciesOf(n) ?? []).join(','))];
        for (const c of commands)
          if (applyCommand(graph, c).changed) {
            undo.push(c.name, graph.dropped);
            states.push(stateOf(graph));
            lists.push(NAMES.map((n) => (graph.dependenciesOf(n) ?? []).join(',')));
          }
        const kept = keepAt % states.length;
        undo.rollback(graph, kept);
        assert.deepEqual(stateOf(graph), states[kept]);
        // The order of each list too, not only its set.
        assert.deepEqual(
          NAMES.map((n) => (graph.dependenciesOf(n) ?? []).join(',')),
          lists[kept],
        );
        assert.deepEqual(graph.verify(), []);
      }),
      { numRuns: 300 },
    );
  });

test('trimming forgets in place and keeps numbering across many records', () => {
  const graph = new DependencyGraph();
  const undo = new UndoLog();
  for (let i = 0; i < 5000; i++) {
    const name = `p${i}`;
    graph.index(name, []);
    undo.push(name, null);
    if (i % 3 === 0) undo.trim(i - 2000);
  }
  assert.equal(undo.end, 5000);
  assert.ok(undo.start > 2000);
  assert.equal(undo.rollback(graph, 4990), 10);
  assert.equal(graph.size, 4990);
  undo.trim(4990);
  assert.equal(undo.rollback(graph, 0), 0, 'durable records are never undone');
  undo.reset(7);
  assert.equal(undo.start, 7);
  assert.equal(undo.end, 7);
});

test('an undo that does not apply is reported, not ignored', () => {
  const graph = new DependencyGraph();
  const undo = new UndoLog();
  undo.push('never-indexed', null);
  assert.throws(() => undo.rollback(graph, 0), { code: 'E_INTERNAL' });
  // A list naming a package the graph no longer has: re-indexing with it cannot apply.
  const other = new DependencyGraph();
  other.keepDropped();
  other.index('missing', []);
  other.index('x', ['missing']);
  other.remove('x');
  undo.reset();
  undo.push('x', other.dropped);
  assert.throws(() => undo.rollback(graph, 0), { code: 'E_INTERNAL' });
});

// The ring under the disk store's pattern: records pushed while earlier ones become durable
// (trim), now and then a failed sync (rollback to the durable point), from a capacity of 2 so
// that it wraps around, grows and shrinks back many times. The model is the state after each
// record number.
for (const { how, keep } of SINKS)
  test(`a ring that wraps, grows and shrinks rolls back to exactly the state after the kept records (${how})`, () => {
    const step = fc.oneof(
      { weight: 6, arbitrary: acyclic.map((c) => ({ kind: 'run' as const, c })) },
      { weight: 2, arbitrary: fc.nat().map((n) => ({ kind: 'sync' as const, n })) },
      { weight: 1, arbitrary: fc.nat().map((n) => ({ kind: 'fail' as const, n })) },
    );
    let grown = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 30, maxLength: 200 }), (steps) => {
        const graph = new DependencyGraph();
        const undo = new UndoLog(2);
        keep(graph, undo);
        for (const name of NAMES) graph.index(name, []);
        // states[k]: the state after record k - 1 (states[0] before any).
        const states: string[][] = [stateOf(graph)];
        let durable = 0;
        let grew = false;
        for (const s of steps) {
          if (s.kind === 'run') {
            if (applyCommand(graph, s.c).changed) {
              undo.push(s.c.name, graph.dropped);
              states.push(stateOf(graph));
            }
          } else if (s.kind === 'sync') {
            // Some of the records not yet durable become so.
            durable += s.n % (undo.end - durable + 1);
            undo.trim(durable);
          } else {
            // A failed sync: back to a point at or after the durable one.
            const kept = durable + (s.n % (undo.end - durable + 1));
            assert.equal(undo.rollback(graph, kept), states.length - 1 - kept);
            states.length = kept + 1;
            assert.deepEqual(stateOf(graph), states[kept]);
          }
          assert.equal(undo.end, states.length - 1);
          assert.equal(undo.start, durable);
          grew ||= undo.capacity > 2;
          assert.ok(undo.capacity >= undo.end - undo.start);
        }
        assert.equal(undo.rollback(graph, durable), states.length - 1 - durable);
        assert.deepEqual(stateOf(graph), states[durable]);
        assert.deepEqual(graph.verify(), []);
        if (grew) grown++;
      }),
      { numRuns: 400 },
    );
    // The property is about the ring's edges: most runs must have wrapped and grown.
    assert.ok(grown > 200, `only ${grown} of 400 runs grew the ring past 2 slots`);
  });

test('the ring grows with the records kept and gives the memory back once they are durable', () => {
  const undo = new UndoLog(4);
  for (let i = 0; i < 1000; i++) undo.push(`p${i}`, null);
  assert.equal(undo.capacity, 1024);
  undo.trim(990);
  // Groups of 10 from now on (at most 20 records held): the first check whose four turns of the
  // ring all came after the burst shrinks it to between 2 and 4 times that (64), and it then
  // stays there, neither growing nor shrinking.
  const capacities = new Set<number>();
  for (let i = 1000; i < 12000; i++) {
    undo.push(`p${i}`, null);
    if (i % 10 === 9) undo.trim(i - 9);
    if (i >= 10000) capacities.add(undo.capacity);
  }
  assert.deepEqual([...capacities], [64]);
  const graph = new DependencyGraph();
  for (let i = 11990; i < 12000; i++) graph.index(`p${i}`, []);
  assert.equal(undo.end - undo.start, 10);
  assert.equal(undo.rollback(graph, 11995), 5);
  assert.equal(graph.size, 5);
  undo.reset(3);
  assert.equal(undo.capacity, 4);
});

// The ring of kept lists under a burst then a steady load: it must grow, give the memory back,
// and never lose the list the graph handed it just before a push, even when that push is the
// one that shrinks the ring. Every record is taken back once right after it is pushed (and
// applied again), so a list lost at any push shows.
test("the log's ring of lists grows with a burst, gives the memory back, and keeps every list it was handed", () => {
  const graph = new DependencyGraph();
  const undo = new UndoLog(4);
  graph.keepDropped(undo);
  const a = Array.from({ length: 10 }, (_, i) => `a${i}`);
  const b = Array.from({ length: 7 }, (_, i) => `b${i}`);
  for (const name of [...a, ...b]) {
    graph.index(name, []);
    undo.push(name, graph.dropped);
  }
  graph.index('p', a);
  undo.push('p', graph.dropped);
  const replace = (list: string[]): void => {
    assert.equal(graph.index('p', list), IndexOutcome.REPLACED);
    undo.push('p', graph.dropped);
  };
  for (let i = 0; i < 1000; i++) replace(i % 2 === 0 ? b : a);
  const burst = undo.spanCapacity;
  assert.ok(burst >= 8192, `the ring grew to ${burst} slots for ~8,500 elements`);
  undo.trim(undo.end);
  const capacities = new Set<number>();
  for (let i = 0; i < 20_000; i++) {
    const now = i % 2 === 0 ? b : a;
    replace(now);
    // Taken back: p has the other list again; then the same change once more.
    assert.equal(undo.rollback(graph, undo.end - 1), 1);
    assert.deepEqual(graph.dependenciesOf('p'), i % 2 === 0 ? a : b, `record ${undo.end}`);
    replace(now);
    undo.trim(undo.end - 1);
    if (i >= 19_000) capacities.add(undo.spanCapacity);
  }
  assert.ok(Math.max(...capacities) < burst / 8, `back to ${[...capacities].join(', ')} slots from ${burst}`);
  assert.deepEqual(graph.verify(), []);
});
