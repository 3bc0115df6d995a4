import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DependencyGraph } from '../../src/graph/dependency-graph.js';
import { Direction, installOrder, packageInfo, relatedPage, removalOrder } from '../../src/graph/queries.js';
import { isPkgIndexError } from '../../src/errors.js';
import { GraphReader, MAX_RESTARTS } from '../../src/store/graph-reader.js';

/** n0 <- n1 <- ... <- n{length-1}: every walk along it takes length / STEP_VISITS steps. */
function chain(length: number): DependencyGraph {
  const g = new DependencyGraph();
  g.index('n0', []);
  for (let i = 1; i < length; i++) g.index(`n${i}`, [`n${i - 1}`]);
  return g;
}

/** Counts the turns of the event loop that ran while `work` was pending. */
async function turnsDuring<T>(work: Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { value: await work, turns };
  } finally {
    done = true;
  }
}

test('a long walk runs in slices across turns and answers what the one-call query answers', async () => {
  const g = chain(20_000);
  const reader = new GraphReader(() => g, { sliceMs: 0 });
  const top = 'n19999';
  const { value: order, turns } = await turnsDuring(reader.installOrder(top, { maxVisits: 100_000 }));
  assert.deepEqual(order, installOrder(g, top, { maxVisits: 100_000 }));
  assert.equal(order!.items.length, 20_000);
  // sliceMs 0: one step (STEP_VISITS visits) per turn, and other callbacks ran between them.
  assert.ok(reader.slices >= 19, `${reader.slices} slices`);
  assert.ok(turns >= 19, `${turns} turns of the event loop ran during the walk`);

  assert.deepEqual(await reader.removalOrder('n0'), removalOrder(g, 'n0'));
  assert.deepEqual(await reader.packageInfo(top), packageInfo(g, top));
  const options = { transitive: true, limit: 10, after: 'n5' };
  assert.deepEqual(
    await reader.related('n0', Direction.DEPENDENTS, options),
    relatedPage(g, 'n0', Direction.DEPENDENTS, options),
  );
  assert.equal(reader.restarts, 0);
});

test('a walk the index changed under starts again and describes the index after the change', async () => {
  const g = chain(10_000);
  const reader = new GraphReader(() => g, { sliceMs: 0 });
  const walk = reader.removalOrder('n0');
  // Lands between two slices of the walk: the answer must include it, not half of it.
  setImmediate(() => setImmediate(() => g.index('late', ['n0'])));
  const order = await walk;
  assert.equal(reader.restarts, 1);
  assert.deepEqual(order, removalOrder(g, 'n0'));
  assert.ok(order!.items.includes('late'));
});

test('a walk the index keeps changing under is refused E_QUERY_BUSY after MAX_RESTARTS', async () => {
  const g = chain(10_000);
  const reader = new GraphReader(() => g, { sliceMs: 0 });
  let writes = 0;
  let writing = true;
  const write = (): void => {
    if (!writing) return;
    g.index(`w${writes++}`, ['n0']);
    setImmediate(write);
  };
  setImmediate(write);
  try {
    await assert.rejects(reader.removalOrder('n0'), (err) => isPkgIndexError(err, 'E_QUERY_BUSY'));
  } finally {
    writing = false;
  }
  assert.equal(reader.restarts, MAX_RESTARTS);
  assert.equal(reader.refusedChanging, 1);
  // Once the writes stop, the same question is answered.
  const order = await reader.removalOrder('n0');
  assert.equal(order!.items.length, 10_000 + writes);
});
