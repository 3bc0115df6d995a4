/** The performance targets, each a ratio between two cells of one matrix run. */
import type { Cell, ServerKind, Target } from './run-matrix.js';

export function cell(cells: readonly Cell[], shapeId: string, server: ServerKind): Cell | undefined {
  return cells.find((c) => c.shape.id === shapeId && c.server === server);
}

/** Per-round ratios of two cells' ops/s (rounds were interleaved, so round i of each saw the same neighbours). */
export function roundRatios(num: Cell, den: Cell): number[] {
  const n = Math.min(num.samples.length, den.samples.length);
  return Array.from({ length: n }, (_, i) => num.samples[i]! / den.samples[i]!);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function ratioTarget(
  label: string,
  bound: number,
  num: Cell | undefined,
  den: Cell | undefined,
  kind: 'ops' | 'p50',
): Target {
  const required = kind === 'p50' ? `≤ ${bound}×` : `≥ ${bound}×`;
  if (num?.result == null || den?.result == null)
    return { label, required, measured: num?.unavailable ?? den?.unavailable ?? 'not measured', met: null };
  // A client-bound cell measured the load generator: no ratio is claimed from it.
  if (num.clientBound === true || den.clientBound === true)
    return {
      label,
      required,
      measured: `not claimed: the load generator was at its CPU limit (${num.clientBound === true ? num.server : den.server} cell)`,
      met: null,
    };
  const ratios =
    kind === 'ops' ? roundRatios(num, den) : [num.result.latencyUs.p50 / den.result.latencyUs.p50];
  const ratio = median(ratios);
  const clean = num.errorsAllRounds === 0;
  const met = clean && (kind === 'p50' ? ratio <= bound : ratio >= bound);
  const spread =
    ratios.length > 1 ? ` (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : '';
  return {
    label,
    required,
    measured: `${ratio.toFixed(3)}×${spread}${clean ? '' : ', with protocol errors'}`,
    met,
  };
}

/**
 * The issues' targets: a label, the bound, the shape, and the two servers whose cells of that
 * shape are compared (numerator, denominator), by ops/s (at least the bound) or p50 (at most).
 */
const TARGETS: readonly (readonly [string, number, string, ServerKind, ServerKind, 'ops' | 'p50'])[] = [
  ['pipelined 100×32 mixed, in memory, ops/s vs ceiling', 0.5, '100x32', 'memory', 'ceiling', 'ops'],
  ['strict 100×1, in memory, ops/s vs ceiling', 0.9, '100x1', 'memory', 'ceiling', 'ops'],
  ['strict 1×1, in memory, p50 latency vs ceiling', 1.5, '1x1', 'memory', 'ceiling', 'p50'],
  ['mutations 100×32, durable vs in memory, ops/s', 0.5, 'mut-100x32', 'durable', 'memory', 'ops'],
  // Issue 13: against the ceiling on every core.
  ['strict 1000×1, in memory, ops/s vs ceiling', 0.9, '1000x1', 'memory', 'ceiling', 'ops'],
  ['strict 100×1, durable, ops/s vs ceiling', 0.75, '100x1', 'durable', 'ceiling', 'ops'],
  ['strict 1000×1, durable, ops/s vs ceiling', 0.75, '1000x1', 'durable', 'ceiling', 'ops'],
  [
    'pipelined 100×32 mixed, in memory, ops/s vs ceiling (issue 13)',
    0.7,
    '100x32',
    'memory',
    'ceiling',
    'ops',
  ],
  // Issue 13, item 3: the durable path at the speed of the memory path, at one thread per core
  // and at one thread, with Node's sockets (the default of `pkgindex serve` until --io auto).
  [
    'pipelined 100×32 mixed, durable vs in memory, ops/s (issue 13)',
    0.8,
    '100x32',
    'durable',
    'memory',
    'ops',
  ],
  ['mutations 100×32, durable vs in memory, ops/s (issue 13)', 0.8, 'mut-100x32', 'durable', 'memory', 'ops'],
  [
    'pipelined 100×32 mixed, one thread, durable vs in memory, ops/s (issue 13)',
    0.8,
    '100x32',
    'durable-1t',
    'memory-1t',
    'ops',
  ],
  [
    'mutations 100×32, one thread, durable vs in memory, ops/s (issue 13)',
    0.8,
    'mut-100x32',
    'durable-1t',
    'memory-1t',
    'ops',
  ],
  // Issue 13 again for the native connection layer (--io native --threads 1, ADR 0019): the
  // targets hold for the best configuration a user can choose, so they are also asked of it.
  [
    'strict 100×1, in memory, native I/O, ops/s vs ceiling (issue 13)',
    0.9,
    '100x1',
    'memory-native',
    'ceiling',
    'ops',
  ],
  [
    'strict 1000×1, in memory, native I/O, ops/s vs ceiling (issue 13)',
    0.9,
    '1000x1',
    'memory-native',
    'ceiling',
    'ops',
  ],
  [
    'strict 100×1, durable, native I/O, ops/s vs ceiling (issue 13)',
    0.75,
    '100x1',
    'durable-native',
    'ceiling',
    'ops',
  ],
  [
    'strict 1000×1, durable, native I/O, ops/s vs ceiling (issue 13)',
    0.75,
    '1000x1',
    'durable-native',
    'ceiling',
    'ops',
  ],
  [
    'pipelined 100×32 mixed, in memory, native I/O, ops/s vs ceiling (issue 13)',
    0.7,
    '100x32',
    'memory-native',
    'ceiling',
    'ops',
  ],
  // The same, against the best reference this host has: the ceiling on one thread making its
  // calls as the native layer does, a turn's reads and writes in one io_uring submission each
  // (ADR 0023). The plain ceiling makes a system call per read and write, which pkgindex no
  // longer does, so its ratios above 1 say little.
  ...(
    [
      ['strict 100×1, in memory', 0.9, '100x1', 'memory-native'],
      ['strict 1000×1, in memory', 0.9, '1000x1', 'memory-native'],
      ['strict 100×1, durable', 0.75, '100x1', 'durable-native'],
      ['strict 1000×1, durable', 0.75, '1000x1', 'durable-native'],
      ['pipelined 100×32 mixed, in memory', 0.7, '100x32', 'memory-native'],
    ] as const
  ).map(
    ([load, bound, shape, kind]) =>
      [
        `${load}, native I/O, ops/s vs the ring ceiling (issue 13)`,
        bound,
        shape,
        kind,
        'ceiling-ring-1t',
        'ops',
      ] as const,
  ),
  [
    'pipelined 100×32 mixed, native I/O, durable vs in memory, ops/s (issue 13)',
    0.8,
    '100x32',
    'durable-native',
    'memory-native',
    'ops',
  ],
  [
    'mutations 100×32, native I/O, durable vs in memory, ops/s (issue 13)',
    0.8,
    'mut-100x32',
    'durable-native',
    'memory-native',
    'ops',
  ],
];

/** The issues' targets, each a ratio of two cells of this run. */
export function evaluateTargets(cells: readonly Cell[]): Target[] {
  return TARGETS.map(([label, bound, shape, num, den, kind]) =>
    ratioTarget(label, bound, cell(cells, shape, num), cell(cells, shape, den), kind),
  );
}
