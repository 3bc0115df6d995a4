/**
 * A yardstick of this host's speed for one thread, taken before and after the matrix: the
 * matrix compares servers within one run, but these machines are shared, and a host that
 * slows down during a run (or between two runs) moves every ratio against the C ceiling,
 * whose small loops lose less than Node does (docs/benchmarks.md, "Stop 47": the same server
 * went from 0.46 to 0.83 µs of CPU a reply within 35 minutes, with 7 % steal).
 *
 * The work is pkgindex's own hot path without I/O: the Homebrew list parsed as protocol lines
 * and applied to a fresh dependency graph (every package indexed in dependency order, then
 * removed, dependents first), the same lines every time. Reported in ns a line, the best of
 * several blocks: the host's speed, not its interruptions.
 */
import { readFileSync } from 'node:fs';
import { defaultDataFile } from '../../src/bench/data-set.js';
import {
  buildCleanupScript,
  buildWarmupScript,
  parseDataFile,
  planWorkload,
  type Script,
} from '../../src/bench/workload.js';
import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../../src/graph/dependency-graph.js';
import { CommandSlot } from '../../src/protocol/command.js';
import { parseInto } from '../../src/protocol/parse.js';

export interface ProbeOptions {
  /** Passes a block (each a fresh graph, the list indexed and removed); default 5. */
  readonly passes?: number;
  /**
   * Blocks measured; the fastest counts. Default 15: many short blocks find a quiet moment
   * more often than few long ones (stop 47, six probes in a row: 15 × 5 passes 433–448 ns a
   * line, 5 × 20 passes 466–514; a few minutes later, on a busier host, 15 × 5 gave 499–627).
   */
  readonly blocks?: number;
  /** Passes before the blocks, to have the code compiled; default 20. */
  readonly warmup?: number;
}

/** ns a line of the probe's work on this thread now (see above). */
export function probeHost(options: ProbeOptions = {}, dataFile = defaultDataFile()): number {
  const plan = planWorkload(parseDataFile(readFileSync(dataFile, 'utf8')), 1);
  const scripts = [buildWarmupScript(plan), buildCleanupScript(plan)] as const;
  const lines = scripts[0].length + scripts[1].length;
  const slot = new CommandSlot();
  const pass = (): void => {
    const graph = new DependencyGraph();
    apply(scripts[0], slot, (s) => graph.index(s.name, s.deps, s.keys) === IndexOutcome.ADDED);
    apply(scripts[1], slot, (s) => graph.remove(s.name, s.keys[0]) === RemoveOutcome.REMOVED);
  };
  const passes = options.passes ?? 5;
  // Compiled first, so that the blocks measure the host, not the compiler.
  for (let i = 0; i < (options.warmup ?? 20); i++) pass();
  let best = Infinity;
  for (let b = 0; b < (options.blocks ?? 15); b++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < passes; i++) pass();
    best = Math.min(best, Number(process.hrtime.bigint() - started) / (passes * lines));
  }
  return best;
}

/** Parses each line of `script` into `slot` and runs `op` on it; throws when a line is not as planned. */
function apply(script: Script, slot: CommandSlot, op: (slot: CommandSlot) => boolean): void {
  const { bytes, offsets } = script;
  for (let i = 0; i < script.length; i++) {
    // Each line ends with its newline, which parseInto does not take.
    if (parseInto(bytes, offsets[i]!, offsets[i + 1]! - 1, slot) !== null || !op(slot))
      throw new Error(`host probe: line ${i + 1} did not apply as planned`);
  }
}

/** The host's speed before and after a run, ns a line. */
export interface HostSpeed {
  readonly startNs: number;
  readonly endNs: number;
}

/**
 * By how much the host may drift before a run's ratios are flagged: above the probe's own
 * spread on a busy host (up to ×1.26 above), below what stop 47 met (×1.8).
 */
const DRIFT = 1.3;

/** The header's sentence about the host's speed, with a warning when it changed during the run. */
export function formatHostSpeed(speed: HostSpeed): string {
  const ratio = speed.endNs / speed.startNs;
  const drift =
    ratio > DRIFT || ratio < 1 / DRIFT
      ? ` The host ${ratio > 1 ? 'slowed' : 'sped up'} by ×${(ratio > 1 ? ratio : 1 / ratio).toFixed(2)} during the run: its ratios against the ceiling are less trustworthy than the intervals say.`
      : '';
  return `Host probe (pkgindex's parser and graph on one thread, the Homebrew list indexed and removed; compare across runs): ${speed.startNs.toFixed(0)} ns a line at the start, ${speed.endNs.toFixed(0)} at the end.${drift}`;
}
