import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DependencyGraph } from '../../src/graph/dependency-graph.js';
import { isProtocolError } from '../../src/protocol/command.js';
import { parseLine } from '../../src/protocol/parse.js';
import { Reply } from '../../src/protocol/reply.js';
import { applyCommand } from '../../src/store/apply-command.js';
import {
  DEFAULT_PREFIX,
  MALFORMED_LINES,
  Op,
  buildCleanupScript,
  buildScript,
  buildWarmupScript,
  parseDataFile,
  parseMix,
  planWorkload,
  withPrefix,
  type Script,
} from '../../src/bench/workload.js';

const BREW = parseDataFile(readFileSync('bench/brew-dependencies.txt', 'utf8'));
const MIXED = parseMix('query=40,index=20,remove=20,malformed=20');

/** Executes request `i` of a script on a graph with the protocol's rules. */
function execute(graph: DependencyGraph, script: Script, i: number): Reply {
  const parsed = parseLine(script.bytes, script.offsets[i]!, script.offsets[i + 1]! - 1);
  return isProtocolError(parsed) ? Reply.ERROR : applyCommand(graph, parsed).reply;
}

function warmGraph(script: Script): DependencyGraph {
  const graph = new DependencyGraph();
  for (let i = 0; i < script.length; i++)
    assert.equal(execute(graph, script, i), Reply.OK, `warm-up request ${i}`);
  return graph;
}

test('the data file format is parsed, blank lines skipped, runs of spaces ignored', () => {
  assert.deepEqual(parseDataFile('a:\nb: a\n\nc:  a   b \n'), [
    { name: 'a', deps: [] },
    { name: 'b', deps: ['a'] },
    { name: 'c', deps: ['a', 'b'] },
  ]);
  assert.throws(() => parseDataFile('no colon here\n'), { code: 'E_USAGE' });
});

test('the plan indexes dependencies first and skips what can never be indexed', () => {
  const plan = planWorkload(parseDataFile('a:\nb: a\nc: missing\nd: c\ne: f\nf: e\ng: a b\nh: a\ni: b\n'), 1);
  assert.deepEqual([...plan.skipped].sort(), ['c', 'd', 'e', 'f']);
  assert.deepEqual(
    plan.warmup.map((s) => s.name),
    ['a', 'b', 'g', 'h', 'i'],
  );
  const volatile = new Set(plan.volatile.map((s) => s.name));
  for (const s of plan.warmup)
    if (!volatile.has(s.name))
      for (const d of s.deps) assert.ok(!volatile.has(d), `stable ${s.name} needs volatile ${d}`);
});

test('the same seed renders the same bytes; another seed, other bytes', () => {
  const a = buildScript(planWorkload(BREW, 7), MIXED, 7, 5000);
  const b = buildScript(planWorkload(BREW, 7), MIXED, 7, 5000);
  const c = buildScript(planWorkload(BREW, 8), MIXED, 8, 5000);
  assert.deepEqual(a.bytes, b.bytes);
  assert.deepEqual(a.expected, b.expected);
  assert.notDeepEqual(a.bytes, c.bytes);
});

test('the mix is followed: each kind appears about as often as its weight says', () => {
  const script = buildScript(planWorkload(BREW, 3), parseMix('query=70,index=20,remove=10'), 3, 20_000);
  const n = [0, 0, 0, 0];
  for (const op of script.ops) n[op]!++;
  assert.ok(Math.abs(n[Op.QUERY]! / 20_000 - 0.7) < 0.02, `query ${n[Op.QUERY]}`);
  assert.ok(Math.abs(n[Op.INDEX]! / 20_000 - 0.2) < 0.02, `index ${n[Op.INDEX]}`);
  assert.ok(Math.abs(n[Op.REMOVE]! / 20_000 - 0.1) < 0.02, `remove ${n[Op.REMOVE]}`);
  assert.equal(n[Op.MALFORMED], 0);
});

test('on the Homebrew data, every request gets the reply the script expects, however connections interleave', () => {
  const plan = planWorkload(BREW, 11);
  const graph = warmGraph(buildWarmupScript(plan));
  const script = buildScript(plan, MIXED, 11, 20_000);
  // Five connections walking the script from different points, interleaved at random.
  const cursors = [0, 4000, 8000, 12_000, 16_000];
  let state = 12345;
  let mutations = 0;
  for (let step = 0; step < 40_000; step++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const k = state % cursors.length;
    const i = cursors[k]!;
    cursors[k] = (i + 1) % script.length;
    const before = graph.edgeCount + graph.size * 1_000_000;
    assert.equal(execute(graph, script, i), script.expected[i], `request ${i} on a graph of ${graph.size}`);
    if (graph.edgeCount + graph.size * 1_000_000 !== before) mutations++;
  }
  assert.deepEqual(graph.verify(), []);
  assert.ok(mutations > 4000, `only ${mutations} requests changed the index`);
});

test('a second warm-up on an already warm index is answered OK too (a reused server)', () => {
  const plan = planWorkload(BREW, 2);
  const warm = buildWarmupScript(plan);
  const graph = warmGraph(warm);
  const script = buildScript(plan, MIXED, 2, 3000);
  for (let i = 0; i < script.length; i++) execute(graph, script, i);
  for (let i = 0; i < warm.length; i++) assert.equal(execute(graph, warm, i), Reply.OK);
});

test('the clean-up removes every package, dependents first, wherever the workload left the index', () => {
  const plan = planWorkload(withPrefix(BREW, DEFAULT_PREFIX), 4);
  for (const stop of [0, 1, 17, 2999]) {
    const graph = warmGraph(buildWarmupScript(plan));
    // Stopped anywhere: volatile leaves indexed or not, with or without their anchor.
    const script = buildScript(plan, MIXED, 4, 3000);
    for (let i = 0; i < stop; i++) execute(graph, script, i);
    const cleanup = buildCleanupScript(plan);
    for (let i = 0; i < cleanup.length; i++)
      assert.equal(execute(graph, cleanup, i), Reply.OK, `clean-up request ${i} after ${stop}`);
    assert.equal(graph.size, 0);
  }
  // The case that needs volatile leaves first: leaf `a`, indexed before its anchor `b`, left
  // depending on it by its second INDEX. In reverse warm-up order REMOVE|b| would come first.
  const tiny = parseDataFile('a:\nb:\nc: b\nd: b\n');
  const seed = [1, 2, 3, 4, 5, 6, 7, 8].find((n) => planWorkload(tiny, n).volatile[0]?.name === 'a')!;
  const small = planWorkload(tiny, seed);
  assert.deepEqual([small.warmup.map((p) => p.name), small.anchors], [['a', 'b', 'c', 'd'], ['b']]);
  const graph = warmGraph(buildWarmupScript(small));
  const twice = buildScript(small, parseMix('index=1'), seed, 2);
  for (let i = 0; i < 2; i++) assert.equal(execute(graph, twice, i), Reply.OK);
  assert.deepEqual(graph.dependenciesOf('a'), ['b']);
  const cleanup = buildCleanupScript(small);
  for (let i = 0; i < cleanup.length; i++)
    assert.equal(execute(graph, cleanup, i), Reply.OK, `clean-up ${i}`);
  assert.equal(graph.size, 0);
});

test('the prefix goes before every name and dependency, and must make names the protocol accepts', () => {
  assert.deepEqual(withPrefix([{ name: 'b', deps: ['a'] }], 'x:'), [{ name: 'x:b', deps: ['x:a'] }]);
  assert.deepEqual(withPrefix(BREW, ''), BREW);
  const plan = planWorkload(withPrefix(BREW, DEFAULT_PREFIX), 1);
  const script = buildScript(plan, MIXED, 1, 5000);
  for (let i = 0; i < script.length; i++) {
    const line = script.bytes.toString('utf8', script.offsets[i], script.offsets[i + 1]! - 1);
    if (script.ops[i] !== Op.MALFORMED)
      assert.match(line, /^[A-Z]+\|bench:[^|]+\|((bench:[^,]+)(,bench:[^,]+)*)?$/);
  }
  for (const bad of ['a|', 'a b', 'é', 'a,b'])
    assert.throws(() => withPrefix(BREW, bad), /--prefix must be the start of a package name/, bad);
  assert.throws(() => withPrefix(BREW, 'p'.repeat(250)), /longer than 255 bytes/);
});

test('every malformed line is one the protocol answers ERROR', () => {
  for (const line of MALFORMED_LINES) {
    const buf = Buffer.from(line, 'utf8');
    assert.ok(isProtocolError(parseLine(buf, 0, buf.length)), JSON.stringify(line));
    assert.ok(!line.includes('\n') && !line.endsWith('\r'));
  }
});

test('mix specifications are checked', () => {
  assert.deepEqual(parseMix('index=1,remove=1'), { query: 0, index: 1, remove: 1, malformed: 0 });
  for (const bad of ['query', 'query=x', 'reads=5', 'query=-1', 'query=0', 'query=1=2'])
    assert.throws(() => parseMix(bad), { code: 'E_USAGE' }, bad);
});
