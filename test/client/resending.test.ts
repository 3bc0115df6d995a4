/**
 * Why `pkgindex client` may send a line again after a lost reply (issue 12, ResendingConnection):
 * every command is idempotent in effect, shown here on the domain over many random states; and
 * a run of commands is not, which is why mutations wait for every earlier reply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../../src/graph/dependency-graph.js';
import { mayChangeIndex } from '../../src/client/resending.js';

type Graph = DependencyGraph;
type Cmd =
  | { verb: 'INDEX'; name: string; deps: string[] }
  | { verb: 'REMOVE'; name: string }
  | { verb: 'QUERY'; name: string };

/** The reply the server gives for each outcome (src/server: added/replaced/unchanged are OK). */
function apply(graph: Graph, cmd: Cmd): 'OK' | 'FAIL' {
  if (cmd.verb === 'QUERY') return graph.has(cmd.name) ? 'OK' : 'FAIL';
  if (cmd.verb === 'REMOVE') return graph.remove(cmd.name) === RemoveOutcome.REQUIRED ? 'FAIL' : 'OK';
  const outcome = graph.index(cmd.name, cmd.deps);
  return outcome === IndexOutcome.MISSING_DEPENDENCY || outcome === IndexOutcome.CYCLE ? 'FAIL' : 'OK';
}

function state(graph: Graph): string[] {
  return [...graph.nodes()]
    .map((node) => `${node.name}<-${[...(graph.dependenciesOf(node.name) ?? [])].sort().join(',')}`)
    .sort();
}

/** xorshift32: the same cases on every run. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];

function randomCommand(next: () => number): Cmd {
  const name = NAMES[Math.floor(next() * NAMES.length)]!;
  const roll = next();
  if (roll < 0.2) return { verb: 'QUERY', name };
  if (roll < 0.45) return { verb: 'REMOVE', name };
  return { verb: 'INDEX', name, deps: NAMES.filter((n) => n !== name && next() < 0.25) };
}

test('each command applied twice in a row leaves the index as applied once, with the same reply', () => {
  const next = random(0x9e3779b9);
  const seen = new Map<string, number>();
  for (let round = 0; round < 400; round++) {
    const graph = new DependencyGraph();
    for (let i = 0; i < 12; i++) apply(graph, randomCommand(next));
    for (let k = 0; k < 10; k++) {
      const cmd = randomCommand(next);
      const first = apply(graph, cmd);
      const once = state(graph);
      const second = apply(graph, cmd);
      assert.equal(second, first, `${JSON.stringify(cmd)} on ${once.join(' ')}`);
      assert.deepEqual(state(graph), once, JSON.stringify(cmd));
      const kind = `${cmd.verb} ${first}`;
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }
  }
  // Every command with each of its replies was exercised (a cycle among them: INDEX FAIL).
  for (const kind of ['INDEX OK', 'INDEX FAIL', 'REMOVE OK', 'REMOVE FAIL', 'QUERY OK', 'QUERY FAIL'])
    assert.ok((seen.get(kind) ?? 0) > 20, `${kind}: ${seen.get(kind) ?? 0} cases`);
});

test('a run of two commands is not: sent again after both were applied, INDEX|a|b turns from FAIL to OK', () => {
  const run: Cmd[] = [
    { verb: 'INDEX', name: 'a', deps: ['b'] },
    { verb: 'INDEX', name: 'b', deps: [] },
  ];
  const once = new DependencyGraph();
  assert.deepEqual(
    run.map((c) => apply(once, c)),
    ['FAIL', 'OK'],
  );
  const replayed = new DependencyGraph();
  run.forEach((c) => apply(replayed, c));
  assert.deepEqual(
    run.map((c) => apply(replayed, c)),
    ['OK', 'OK'],
  );
  assert.notDeepEqual(state(replayed), state(once));
});

test('mayChangeIndex: only INDEX and REMOVE lines the server would accept change the index', () => {
  assert.equal(mayChangeIndex('INDEX|a|b,c'), true);
  assert.equal(mayChangeIndex('REMOVE|a|'), true);
  assert.equal(mayChangeIndex('REMOVE|a|\r'), true);
  assert.equal(mayChangeIndex('QUERY|a|'), false);
  // Answered ERROR, which changes nothing.
  assert.equal(mayChangeIndex('INDEX|a|b|c'), false);
  assert.equal(mayChangeIndex('index a'), false);
  assert.equal(mayChangeIndex('REMOVE|a|b'), false);
  assert.equal(mayChangeIndex('INDEX|ä|'), false);
  assert.equal(mayChangeIndex(''), false);
});
