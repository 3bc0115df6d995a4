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

/** The targets, each a ratio of two cells of this run. */
export function evaluateTargets(cells: readonly Cell[]): Target[] {
  return [
    ratioTarget(
      'pipelined 100×32 mixed, in memory, ops/s vs ceiling',
      0.5,
      cell(cells, '100x32', 'memory'),
      cell(cells, '100x32', 'ceiling'),
      'ops',
    ),
    ratioTarget(
      'strict 100×1, in memory, ops/s vs ceiling',
      0.9,
      cell(cells, '100x1', 'memory'),
      cell(cells, '100x1', 'ceiling'),
      'ops',
    ),
    ratioTarget(
      'strict 1×1, in memory, p50 latency vs ceiling',
      1.5,
      cell(cells, '1x1', 'memory'),
      cell(cells, '1x1', 'ceiling'),
      'p50',
    ),
    ratioTarget(
      'mutations 100×32, durable vs in memory, ops/s',
      0.5,
      cell(cells, 'mut-100x32', 'durable'),
      cell(cells, 'mut-100x32', 'memory'),
      'ops',
    ),
    // Issue 13: against the ceiling on every core.
    ratioTarget(
      'strict 1000×1, in memory, ops/s vs ceiling',
      0.9,
      cell(cells, '1000x1', 'memory'),
      cell(cells, '1000x1', 'ceiling'),
      'ops',
    ),
    ratioTarget(
      'strict 100×1, durable, ops/s vs ceiling',
      0.75,
      cell(cells, '100x1', 'durable'),
      cell(cells, '100x1', 'ceiling'),
      'ops',
    ),
    ratioTarget(
      'strict 1000×1, durable, ops/s vs ceiling',
      0.75,
      cell(cells, '1000x1', 'durable'),
      cell(cells, '1000x1', 'ceiling'),
      'ops',
    ),
    ratioTarget(
      'pipelined 100×32 mixed, in memory, ops/s vs ceiling (issue 13)',
      0.7,
      cell(cells, '100x32', 'memory'),
      cell(cells, '100x32', 'ceiling'),
      'ops',
    ),
  ];
}
