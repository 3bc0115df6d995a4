/**
 * `npm run bench -- --before DIST`: the standard matrix as a before/after comparison of two
 * builds in one run (issue 12: "throughput of the standard benchmark matrix does not drop by
 * more than 3 %, same run, before/after"). The `memory` and `durable` kinds run the other
 * build, on one thread as it knows no `--threads`; `memory-1t` and `durable-1t` run this one.
 * Rounds interleave as in every matrix run, so round i of each side saw the same neighbours.
 */
import { join } from 'node:path';
import type { Cell, MatrixOptions } from './run-matrix.js';
import { cell, median, roundRatios } from './targets.js';

/** `serve` arguments of the other build's in-memory and durable servers ({port}, {dataDir} substituted). */
export function beforeServerArgs(dist: string): Pick<MatrixOptions['serverArgs'], 'memory' | 'durable'> {
  const common = [join(dist, 'src', 'cli', 'main.js'), 'serve', '--host', '127.0.0.1', '--port', '{port}'];
  const quiet = ['--admin-port', '0', '--quiet'];
  return {
    memory: [...common, ...quiet, '--storage', 'memory'],
    durable: [...common, ...quiet, '--storage', 'disk', '--data-dir', '{dataDir}'],
  };
}

/** One cell of the comparison: this build's ops/s over the other's, round by round. */
export interface BeforeAfterRow {
  readonly label: string;
  /** Per-round ratios, in the order run; empty when either side has no result. */
  readonly ratios: readonly number[];
  /** Their median, or null. */
  readonly median: number | null;
  /** This build's server CPU per reply over the other's, median of the rounds with both (null: none). */
  readonly cpuMedian: number | null;
}

const PAIRS = [
  { before: 'memory', after: 'memory-1t', store: 'in memory' },
  { before: 'durable', after: 'durable-1t', store: 'durable' },
] as const;

/** Every shape × store of `cells` (a matrix run with `beforeServerArgs`), in the matrix's order. */
export function beforeAfterRows(cells: readonly Cell[]): BeforeAfterRow[] {
  const shapes = [...new Map(cells.map((c) => [c.shape.id, c.shape])).values()];
  const rows: BeforeAfterRow[] = [];
  for (const shape of shapes)
    for (const pair of PAIRS) {
      const before = cell(cells, shape.id, pair.before);
      const after = cell(cells, shape.id, pair.after);
      const measured = before?.result != null && after?.result != null;
      const ratios = measured ? roundRatios(after, before) : [];
      const cpu = measured ? cpuRatios(after, before) : [];
      rows.push({
        label: `${shape.label}, ${pair.store}`,
        ratios,
        median: ratios.length === 0 ? null : median(ratios),
        cpuMedian: cpu.length === 0 ? null : median(cpu),
      });
    }
  return rows;
}

/** Per-round ratios of server CPU per reply, for the rounds where both sides have it. */
function cpuRatios(num: Cell, den: Cell): number[] {
  const out: number[] = [];
  const n = Math.min(num.cpuSamples.length, den.cpuSamples.length);
  for (let i = 0; i < n; i++) {
    const a = num.cpuSamples[i];
    const b = den.cpuSamples[i];
    if (a != null && b != null && b > 0) out.push(a / b);
  }
  return out;
}

/** The geometric mean of the rows' medians: one figure for the whole matrix (null if none). */
export function overallRatio(rows: readonly BeforeAfterRow[]): number | null {
  const medians = rows.flatMap((r) => (r.median === null ? [] : [r.median]));
  if (medians.length === 0) return null;
  return Math.exp(medians.reduce((sum, m) => sum + Math.log(m), 0) / medians.length);
}

/** The comparison as a markdown table, then the overall figure. */
export function formatBeforeAfter(rows: readonly BeforeAfterRow[], bound = 0.97): string {
  const lines = [
    '| cell | after / before ops/s: median | rounds | within the bound | server CPU per reply, after / before: median |',
    '| --- | ---: | --- | --- | ---: |',
  ];
  for (const row of rows) {
    const m = row.median;
    const cpu = row.cpuMedian === null ? '' : row.cpuMedian.toFixed(3);
    lines.push(
      `| ${row.label} | ${m === null ? 'not measured' : m.toFixed(3)} | ${row.ratios.map((r) => r.toFixed(2)).join(', ')} | ${m === null ? '' : m >= bound ? 'yes' : '**no**'} | ${cpu} |`,
    );
  }
  const overall = overallRatio(rows);
  lines.push(
    '',
    `Geometric mean of the cells' medians: ${overall === null ? 'not measured' : overall.toFixed(3)}; bound ${bound} per cell (a drop of at most ${Math.round((1 - bound) * 100)} %).`,
  );
  return lines.join('\n');
}
