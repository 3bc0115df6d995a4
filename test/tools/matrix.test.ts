import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SERVER_ARGS,
  SERVER_KINDS,
  SHAPES,
  cpuPerReply,
  nativeFallback,
  type Cell,
  type MatrixResult,
  type ServerKind,
} from '../../tools/matrix/run-matrix.js';
import { matrixServerArgs, parseServers } from '../../tools/matrix/command.js';
import { ToolUsageError } from '../../tools/support/errors.js';
import { evaluateTargets } from '../../tools/matrix/targets.js';
import { formatHostSpeed, probeHost } from '../../tools/matrix/host-probe.js';
import {
  SECTION_END,
  SECTION_START,
  formatMatrixMarkdown,
  spliceMatrixSection,
} from '../../tools/matrix/docs-section.js';
import type { BenchResult } from '../../src/bench/run-bench.js';
import {
  beforeAfterRows,
  beforeServerArgs,
  formatBeforeAfter,
  overallRatio,
} from '../../tools/matrix/before-after.js';

function fakeResult(opsPerSec: number, p50: number, protocolErrors = 0): BenchResult {
  const latencyUs = { min: 1, mean: p50, p50, p90: p50, p99: p50 * 2, p999: p50 * 3, max: p50 * 4 };
  return {
    opsPerSec,
    latencyUs,
    protocolErrors,
    warmup: { packages: 10, skipped: 0, elapsedS: 0.1, protocolErrors: 0 },
    server: { pid: 1, cpuSeconds: 1, cpuPercent: 100, peakRssBytes: 1 << 20 },
    client: { cpuSeconds: 1, cpuPercent: 90 },
  } as unknown as BenchResult;
}

function cells(
  figures: Partial<Record<string, Partial<Record<ServerKind, BenchResult | null>>>>,
  samples: Partial<Record<string, Partial<Record<ServerKind, number[]>>>> = {},
  cpuSamples: Partial<Record<string, Partial<Record<ServerKind, (number | null)[]>>>> = {},
): Cell[] {
  const out: Cell[] = [];
  for (const shape of SHAPES)
    for (const server of SERVER_KINDS) {
      const result = figures[shape.id]?.[server] ?? null;
      // The matrix runs every kind; a test that names no figure for the optional ones leaves them out.
      if (
        result === null &&
        (server === 'node-floor' || server.endsWith('-1t') || server.endsWith('-native'))
      )
        continue;
      out.push({
        shape,
        server,
        result,
        unavailable: result === null ? 'not available yet' : null,
        othersCpuPercent: 0,
        samples: samples[shape.id]?.[server] ?? (result === null ? [] : [result.opsPerSec]),
        cpuSamples: cpuSamples[shape.id]?.[server] ?? [],
        errorsAllRounds: result === null ? 0 : result.protocolErrors,
        clientBound: result === null ? null : false,
      });
    }
  return out;
}

test('targets are ratios between cells of the same run, and unmeasured ones are said so', () => {
  const targets = evaluateTargets(
    cells({
      '100x32': { ceiling: fakeResult(1000, 10), memory: fakeResult(600, 20) },
      '100x1': { ceiling: fakeResult(1000, 10), memory: fakeResult(800, 20) },
      '1x1': { ceiling: fakeResult(1000, 10), memory: fakeResult(900, 15) },
      'mut-100x32': { memory: fakeResult(500, 10) },
    }),
  );
  assert.deepEqual(
    targets.map((t) => [t.measured, t.met]),
    [
      ['0.600×', true],
      ['0.800×', false],
      ['1.500×', true],
      ['not available yet', null],
      ['not available yet', null],
      ['not available yet', null],
      ['not available yet', null],
      ['0.600×', false],
      ['not available yet', null],
      ['not available yet', null],
      // The one-thread kinds are optional in these tests: a run that has no such cell says so.
      ['not measured', null],
      ['not measured', null],
      // So are the native kinds; where the ceiling is missing too, its reason is given.
      ['not measured', null],
      ['not available yet', null],
      ['not measured', null],
      ['not available yet', null],
      ['not measured', null],
      // And the ring ceiling, against which the native kinds are compared again.
      ['not measured', null],
      ['not measured', null],
      ['not measured', null],
      ['not measured', null],
      ['not measured', null],
      ['not measured', null],
      ['not measured', null],
    ],
  );
});

test('the durable path is compared with the memory path at the same thread count', () => {
  const targets = evaluateTargets(
    cells({
      '100x32': {
        memory: fakeResult(1000, 10),
        durable: fakeResult(700, 20),
        'memory-1t': fakeResult(900, 10),
        'durable-1t': fakeResult(810, 12),
        'memory-native': fakeResult(2000, 5),
        'durable-native': fakeResult(1700, 6),
      },
      'mut-100x32': {
        memory: fakeResult(600, 10),
        durable: fakeResult(300, 20),
        'memory-1t': fakeResult(500, 10),
        'durable-1t': fakeResult(350, 12),
        'memory-native': fakeResult(1000, 5),
        'durable-native': fakeResult(750, 6),
      },
    }),
  );
  const issue13 = targets.filter(
    (t) => t.label.includes('durable vs in memory') && t.label.endsWith('(issue 13)'),
  );
  assert.deepEqual(
    issue13.map((t) => [t.label, t.measured, t.met]),
    [
      ['pipelined 100×32 mixed, durable vs in memory, ops/s (issue 13)', '0.700×', false],
      ['mutations 100×32, durable vs in memory, ops/s (issue 13)', '0.500×', false],
      ['pipelined 100×32 mixed, one thread, durable vs in memory, ops/s (issue 13)', '0.900×', true],
      ['mutations 100×32, one thread, durable vs in memory, ops/s (issue 13)', '0.700×', false],
      // Native I/O: durable-native over memory-native, not over any other kind.
      ['pipelined 100×32 mixed, native I/O, durable vs in memory, ops/s (issue 13)', '0.850×', true],
      ['mutations 100×32, native I/O, durable vs in memory, ops/s (issue 13)', '0.750×', false],
    ],
  );
});

test('the issue-13 ceiling targets are also asked of the native kinds, beside the existing rows', () => {
  const targets = evaluateTargets(
    cells({
      '100x1': {
        ceiling: fakeResult(1000, 10),
        memory: fakeResult(600, 20),
        durable: fakeResult(500, 20),
        'memory-native': fakeResult(950, 10),
        'durable-native': fakeResult(700, 12),
      },
      '1000x1': {
        ceiling: fakeResult(1000, 10),
        memory: fakeResult(600, 20),
        durable: fakeResult(500, 20),
        'memory-native': fakeResult(850, 10),
        'durable-native': fakeResult(800, 12),
      },
      '100x32': {
        ceiling: fakeResult(1000, 10),
        memory: fakeResult(600, 20),
        'memory-native': fakeResult(720, 10),
      },
    }),
  );
  const byLabel = new Map(targets.map((t) => [t.label, [t.required, t.measured, t.met]]));
  // Without a ring ceiling in the run, its rows say so rather than compare with another kind.
  assert.deepEqual(byLabel.get('strict 100×1, in memory, native I/O, ops/s vs the ring ceiling (issue 13)'), [
    '≥ 0.9×',
    'not measured',
    null,
  ]);
  // The thread-per-core rows are still there, with their own figures.
  assert.deepEqual(byLabel.get('strict 100×1, in memory, ops/s vs ceiling'), ['≥ 0.9×', '0.600×', false]);
  assert.deepEqual(byLabel.get('strict 100×1, durable, ops/s vs ceiling'), ['≥ 0.75×', '0.500×', false]);
  const native = targets.filter((t) => t.label.includes('native I/O') && t.label.includes('vs ceiling'));
  assert.deepEqual(
    native.map((t) => [t.label, t.required, t.measured, t.met]),
    [
      ['strict 100×1, in memory, native I/O, ops/s vs ceiling (issue 13)', '≥ 0.9×', '0.950×', true],
      ['strict 1000×1, in memory, native I/O, ops/s vs ceiling (issue 13)', '≥ 0.9×', '0.850×', false],
      ['strict 100×1, durable, native I/O, ops/s vs ceiling (issue 13)', '≥ 0.75×', '0.700×', false],
      ['strict 1000×1, durable, native I/O, ops/s vs ceiling (issue 13)', '≥ 0.75×', '0.800×', true],
      [
        'pipelined 100×32 mixed, in memory, native I/O, ops/s vs ceiling (issue 13)',
        '≥ 0.7×',
        '0.720×',
        true,
      ],
    ],
  );
});

test('the native kinds are also compared with the ring ceiling, the reference that batches its calls as they do', () => {
  const targets = evaluateTargets(
    cells({
      '100x1': {
        ceiling: fakeResult(1000, 10),
        'ceiling-ring-1t': fakeResult(2000, 10),
        'memory-native': fakeResult(1900, 10),
        'durable-native': fakeResult(1400, 12),
      },
      '1000x1': {
        ceiling: fakeResult(1000, 10),
        'ceiling-ring-1t': fakeResult(1000, 10),
        'memory-native': fakeResult(850, 10),
        'durable-native': fakeResult(800, 12),
      },
      '100x32': {
        ceiling: fakeResult(1000, 10),
        'ceiling-ring-1t': fakeResult(4000, 10),
        'memory-native': fakeResult(2000, 10),
      },
    }),
  );
  const ring = targets.filter((t) => t.label.includes('the ring ceiling'));
  assert.deepEqual(
    ring.map((t) => [t.label, t.required, t.measured, t.met]),
    [
      ['strict 100×1, in memory, native I/O, ops/s vs the ring ceiling (issue 13)', '≥ 0.9×', '0.950×', true],
      [
        'strict 1000×1, in memory, native I/O, ops/s vs the ring ceiling (issue 13)',
        '≥ 0.9×',
        '0.850×',
        false,
      ],
      ['strict 100×1, durable, native I/O, ops/s vs the ring ceiling (issue 13)', '≥ 0.75×', '0.700×', false],
      ['strict 1000×1, durable, native I/O, ops/s vs the ring ceiling (issue 13)', '≥ 0.75×', '0.800×', true],
      [
        'pipelined 100×32 mixed, in memory, native I/O, ops/s vs the ring ceiling (issue 13)',
        '≥ 0.7×',
        '0.500×',
        false,
      ],
    ],
  );
  // The plain ceiling's rows keep their own reference.
  assert.equal(
    targets.find((t) => t.label === 'strict 100×1, in memory, native I/O, ops/s vs ceiling (issue 13)')
      ?.measured,
    '1.900×',
  );
});

test('throughput targets take the median of per-round ratios, not a ratio of unrelated rounds', () => {
  // Round 2 ran while the machine was busy for both servers: its ratio is still 0.5.
  const pipelined = evaluateTargets(
    cells(
      { '100x32': { ceiling: fakeResult(1000, 10), memory: fakeResult(600, 20) } },
      { '100x32': { ceiling: [1000, 200, 1000], memory: [600, 100, 400] } },
    ),
  )[0]!;
  assert.equal(pipelined.measured, '0.500× (rounds 0.40–0.60)');
  assert.equal(pipelined.met, true);
});

test('a cell with protocol errors never meets its target', () => {
  const pipelined = evaluateTargets(
    cells({ '100x32': { ceiling: fakeResult(1000, 10), memory: fakeResult(900, 10, 3) } }),
  )[0]!;
  assert.equal(pipelined.met, false);
  assert.match(pipelined.measured, /protocol errors/);
});

const MATRIX: MatrixResult = {
  date: '2026-11-25T16:00:00.000Z',
  machine: {
    cores: 2,
    cpu: 'Test CPU',
    node: 'v20.0.0',
    loadavg: '0.00 0.00 0.00',
    hostSpeed: { startNs: 300, endNs: 310 },
  },
  command: 'npm run bench',
  options: { durationS: 5, rounds: 1, threads: 1, seed: 1, roundTripCpu: null },
  cells: cells({ '1x1': { ceiling: fakeResult(1000, 10), memory: fakeResult(900, 12) } }),
  targets: [],
};

test('the matrix section names the machine, the command and marks missing cells', () => {
  const md = formatMatrixMarkdown(MATRIX);
  assert.match(md, /2 cores, Test CPU, Node v20\.0\.0/);
  assert.match(md, /`npm run bench`/);
  assert.match(md, /\| strict 1×1 \| memory \| 900 \| 0\.90 \|/);
  assert.match(md, /\| strict 1×1 \| durable \| not available yet \|/);
  // The paragraph that explains the kinds names the native ones and how they are served.
  assert.match(md, /memory-native: `--io native --threads 1`.*ADR 0019.*\(durable-native\)/);
});

test("the header gives the host's speed before and after the run, and says when it drifted", () => {
  const md = formatMatrixMarkdown(MATRIX);
  assert.match(md, /Host probe \(.*\): 300 ns a line at the start, 310 at the end\.(?! The host)/);
  assert.match(
    formatHostSpeed({ startNs: 460, endNs: 830 }),
    /830 at the end\. The host slowed by ×1\.80 during the run: its ratios against the ceiling are less trustworthy/,
  );
  assert.match(formatHostSpeed({ startNs: 830, endNs: 460 }), /The host sped up by ×1\.80/);
  assert.doesNotMatch(formatHostSpeed({ startNs: 400, endNs: 510 }), /The host/);
});

test('the host probe runs the parser and the graph over the Homebrew list, every line as planned', () => {
  const ns = probeHost({ passes: 1, blocks: 1, warmup: 0 });
  assert.ok(Number.isFinite(ns) && ns > 0, String(ns));
});

test("server CPU per reply: user and kernel, then the main thread's (the index owner's) when measured", () => {
  const result = {
    answered: 1_000_000,
    server: { userSeconds: 0.5, systemSeconds: 0.25, mainUserSeconds: 0.375, mainSystemSeconds: 0.125 },
  } as unknown as BenchResult;
  assert.equal(cpuPerReply(result), '0.5 + 0.3 µs; main thread 0.5');
  // A result from before the bench measured the main thread says nothing of it.
  const older = {
    answered: 1_000_000,
    server: { userSeconds: 0.5, systemSeconds: 0.25 },
  } as unknown as BenchResult;
  assert.equal(cpuPerReply(older), '0.5 + 0.3 µs');
});

test('the section is created, then replaced in place, leaving other sections alone', () => {
  const created = spliceMatrixSection(null, 'first');
  assert.ok(created.startsWith('# Benchmarks'));
  assert.ok(created.includes(`## Standard matrix`));
  const withOthers = `${created}\n## Storage\n\nsomeone else's text\n`;
  const replaced = spliceMatrixSection(withOthers, 'second');
  assert.ok(replaced.includes(`${SECTION_START}\nsecond\n${SECTION_END}`));
  assert.ok(!replaced.includes('first'));
  assert.ok(replaced.endsWith("## Storage\n\nsomeone else's text\n"));
  const appended = spliceMatrixSection('# Benchmarks\n\n## Import\n\ntext\n', 'third');
  assert.ok(appended.startsWith('# Benchmarks\n\n## Import\n\ntext\n\n## Standard matrix'));
});

test('no ratio is claimed from a cell whose load generator was at its CPU limit', () => {
  const all = cells({ '100x1': { ceiling: fakeResult(1000, 10), memory: fakeResult(950, 20) } });
  const ceiling = all.findIndex((c) => c.shape.id === '100x1' && c.server === 'ceiling');
  all[ceiling] = { ...all[ceiling]!, clientBound: true };
  const strict = evaluateTargets(all)[1]!;
  assert.equal(strict.met, null);
  assert.match(strict.measured, /not claimed: the load generator was at its CPU limit \(ceiling cell\)/);
  assert.match(
    formatMatrixMarkdown({ ...MATRIX, cells: all }),
    /\| strict 100×1 \| memory \| 950 \| not claimed \|/,
  );
});

test('pkgindex is compared with the Node floor of each shape that measured one', () => {
  const all = cells(
    {
      '100x1': {
        ceiling: fakeResult(1000, 10),
        'node-floor': fakeResult(800, 12),
        memory: fakeResult(600, 20),
        'memory-1t': fakeResult(700, 15),
        'memory-native': fakeResult(1000, 9),
      },
      '1x1': { ceiling: fakeResult(1000, 10), memory: fakeResult(900, 12) },
    },
    {
      '100x1': {
        ceiling: [1000, 500],
        'node-floor': [800, 300],
        memory: [600, 240],
        'memory-1t': [700, 270],
        'memory-native': [960, 390],
      },
    },
  );
  const md = formatMatrixMarkdown({ ...MATRIX, cells: all });
  assert.match(md, /\| strict 100×1 \| node-floor \| 800 \| 0\.70 \(0\.60–0\.80\) \|/);
  assert.match(
    md,
    /\| durable-1t × Node floor \| memory-native × Node floor \|\n\| --- \| ---: \| ---: \| ---: \| ---: \| ---: \| ---: \|\n/,
  );
  // memory-native over the Node floor, round by round: 1.2 and 1.3.
  assert.match(
    md,
    /\| strict 100×1 \| 0\.70 \(0\.60–0\.80\) \| 0\.89 \(0\.88–0\.90\) \| 0\.78 \(0\.75–0\.80\) \| not measured \| not measured \| 1\.25 \(1\.20–1\.30\) \|\n/,
  );
  // A shape without a Node floor cell gets no row in that table.
  assert.doesNotMatch(md, /\| strict 1×1 \| not measured/);
});

test('before/after: per cell, the median of the rounds of this build over the other; one figure for all', () => {
  const rows = beforeAfterRows(
    cells(
      {
        '100x32': {
          memory: fakeResult(1000, 10),
          'memory-1t': fakeResult(950, 10),
          durable: fakeResult(500, 10),
          'durable-1t': fakeResult(520, 10),
        },
        '1x1': { memory: fakeResult(100, 10), 'memory-1t': null },
      },
      {
        '100x32': {
          memory: [1000, 800, 1000],
          'memory-1t': [950, 880, 900],
          durable: [500, 400, 600],
          'durable-1t': [520, 400, 660],
        },
      },
      {
        // CPU per reply: 1.2, 1.0, 1.1 → median 1.1; a round without the server's figures is left out.
        '100x32': { memory: [1, 1, 2], 'memory-1t': [1.2, 1, 2.2], durable: [2, null], 'durable-1t': [3, 3] },
      },
    ),
  );
  const byLabel = new Map(rows.map((r) => [r.label, r]));
  // Round by round: 0.95, 1.1, 0.9 → median 0.95; 1.04, 1, 1.1 → 1.04.
  assert.deepEqual(byLabel.get('pipelined 100×32, in memory')!.ratios, [0.95, 1.1, 0.9]);
  assert.equal(byLabel.get('pipelined 100×32, in memory')!.median, 0.95);
  assert.equal(byLabel.get('pipelined 100×32, durable')!.median, 1.04);
  assert.ok(Math.abs(byLabel.get('pipelined 100×32, in memory')!.cpuMedian! - 1.1) < 1e-12);
  assert.equal(byLabel.get('pipelined 100×32, durable')!.cpuMedian, 1.5);
  assert.equal(byLabel.get('strict 1×1, in memory')!.cpuMedian, null);
  // A side without a result is not measured, and counts in no overall figure.
  assert.equal(byLabel.get('strict 1×1, in memory')!.median, null);
  assert.ok(Math.abs(overallRatio(rows)! - Math.sqrt(0.95 * 1.04)) < 1e-12);
  const table = formatBeforeAfter(rows);
  assert.match(
    table,
    /\| pipelined 100×32, in memory \| 0\.950 \| 0\.95, 1\.10, 0\.90 \| \*\*no\*\* \| 1\.100 \|/,
  );
  assert.match(table, /\| pipelined 100×32, durable \| 1\.040 \| .* \| yes \|/);
  assert.match(table, /\| strict 1×1, in memory \| not measured \|/);
  assert.equal(overallRatio([]), null);
});

test('before/after: the other build serves with its own CLI, one thread, in memory and durable', () => {
  const args = beforeServerArgs('/elsewhere/dist');
  assert.equal(args.memory[0], '/elsewhere/dist/src/cli/main.js');
  assert.deepEqual(args.memory.slice(-2), ['--storage', 'memory']);
  assert.deepEqual(args.durable.slice(-4), ['--storage', 'disk', '--data-dir', '{dataDir}']);
  for (const a of [args.memory, args.durable]) {
    assert.ok(a.includes('{port}'));
    assert.ok(!a.includes('--threads'), 'an older build knows no --threads');
  }
});

test('the native kinds serve this build with --io native on one thread, in memory and durable', () => {
  const memory = DEFAULT_SERVER_ARGS['memory-native'];
  const durable = DEFAULT_SERVER_ARGS['durable-native'];
  // As their -1t neighbours, which name Node's sockets, with --io native instead.
  const withNode = (args: readonly string[]): string[] =>
    args.map((a, i) => (a === 'native' && args[i - 1] === '--io' ? 'node' : a));
  assert.deepEqual(withNode(memory), DEFAULT_SERVER_ARGS['memory-1t']);
  assert.deepEqual(withNode(durable), DEFAULT_SERVER_ARGS['durable-1t']);
  for (const a of [memory, durable]) {
    assert.equal(a[0], 'dist/src/cli/main.js');
    assert.deepEqual(a.slice(a.indexOf('--io'), a.indexOf('--io') + 2), ['--io', 'native']);
    assert.deepEqual(a.slice(a.indexOf('--threads'), a.indexOf('--threads') + 2), ['--threads', '1']);
  }
  assert.deepEqual(memory.slice(memory.indexOf('--storage'), memory.indexOf('--storage') + 2), [
    '--storage',
    'memory',
  ]);
  assert.ok(durable.includes('{dataDir}'));
});

test('--memory-args and --durable-args replace the memory and durable kinds only', () => {
  const args = matrixServerArgs(null, 'x.js serve --port {port}', 'y.js serve --data-dir {dataDir}');
  assert.deepEqual(args.memory, ['x.js', 'serve', '--port', '{port}']);
  assert.deepEqual(args.durable, ['y.js', 'serve', '--data-dir', '{dataDir}']);
  for (const kind of ['memory-1t', 'durable-1t', 'memory-native', 'durable-native'] as const)
    assert.deepEqual(args[kind], DEFAULT_SERVER_ARGS[kind]);
  assert.deepEqual(matrixServerArgs(null, undefined, undefined), DEFAULT_SERVER_ARGS);
});

test('before/after: the older build serves memory and durable, every other kind is this build', () => {
  const args = matrixServerArgs('/elsewhere/dist', undefined, undefined);
  assert.equal(args.memory[0], '/elsewhere/dist/src/cli/main.js');
  assert.equal(args.durable[0], '/elsewhere/dist/src/cli/main.js');
  // An older build knows no --io: the native kinds are never asked of it.
  for (const a of [args.memory, args.durable]) assert.ok(!a.includes('--io'));
  for (const kind of ['memory-1t', 'durable-1t', 'memory-native', 'durable-native'] as const)
    assert.deepEqual(args[kind], DEFAULT_SERVER_ARGS[kind]);
});

test('--servers picks kinds in the matrix order, and refuses names it does not know', () => {
  assert.deepEqual(parseServers(undefined), SERVER_KINDS);
  assert.deepEqual(parseServers('memory-native,ceiling,memory-1t'), [
    'ceiling',
    'memory-1t',
    'memory-native',
  ]);
  assert.throws(
    () => parseServers('ceiling,memory-2t'),
    (err: unknown) => {
      assert.ok(err instanceof ToolUsageError);
      assert.match(err.message, /unknown memory-2t/);
      return true;
    },
  );
  assert.throws(() => parseServers(','), ToolUsageError);
});

test("a native kind whose server fell back to Node's sockets is told apart", () => {
  assert.equal(nativeFallback(''), null);
  assert.equal(nativeFallback('{"level":30,"msg":"listening"}\n'), null);
  assert.equal(
    nativeFallback(
      '{"level":40,"io":"native","msg":"--io native cannot serve: the addon is not built; serving with --io node"}\n',
    ),
    '--io native cannot serve: the addon is not built; serving with --io node',
  );
});
