/**
 * The import report: what the source held, what could be indexed, why the rest could not,
 * and (unless dry run) what the server answered. One object, rendered as text for people or
 * JSON for scripts (`--json`), so both always say the same thing.
 */
import { LeftOutReason, type DroppedEdge, type ImportPlan, type LeftOut, type RootReason } from './plan.js';
import type { RunResult } from './run.js';
import type { ParsedSource, SourceWarning } from './source.js';

export interface ImportReport {
  readonly sources: readonly string[];
  readonly format: string;
  readonly packages: number;
  readonly parse: {
    readonly warningCount: number;
    readonly warnings: readonly SourceWarning[];
    readonly counters: Readonly<Record<string, number>>;
  };
  readonly plan: {
    readonly importable: number;
    readonly leftOut: number;
    readonly leftOutByReason: Readonly<Record<LeftOutReason, number>>;
    /** Packages left out because of a dependency, by the reason at the root of the chain. */
    readonly blockedByRootReason: Readonly<Record<RootReason, number>>;
    /**
     * The cycles that keep out (or, broken, let in) the most packages first, then the largest;
     * `cycle` in `leftOutPackages` and `droppedEdges` indexes this list.
     */
    readonly cycles: readonly (readonly string[])[];
    /** For each cycle of `cycles`, the packages it keeps out (broken: lets in), its own included. */
    readonly cycleImpact: readonly number[];
    /** Whether `--break-cycles` was given: cycles lose `droppedEdges` instead of being left out. */
    readonly cyclesBroken: boolean;
    readonly droppedEdges: readonly DroppedEdge[];
    /** Importable only because cycles were broken (on one, or depending on one). */
    readonly letIn: number;
    /**
     * Dependencies the source does not define that the server already holds, so they counted as
     * present; null when the server was not asked (a dry run).
     */
    readonly foundOnServer: number | null;
    /** Dependencies that exist nowhere, most needed first. */
    readonly missing: readonly { readonly name: string; readonly neededBy: number }[];
    readonly leftOutPackages: readonly LeftOut[];
  };
  /** Null on a dry run. */
  readonly run: {
    readonly server: string;
    readonly indexed: number;
    readonly rejected: RunResult['rejected'];
    readonly elapsedMs: number;
    readonly packagesPerSecond: number;
  } | null;
}

export function buildReport(
  sources: readonly string[],
  parsed: ParsedSource,
  plan: ImportPlan,
  run: { server: string; result: RunResult } | null,
  cyclesBroken = false,
): ImportReport {
  const leftOutByReason: Record<LeftOutReason, number> = {
    [LeftOutReason.INVALID_NAME]: 0,
    [LeftOutReason.MISSING_DEPENDENCY]: 0,
    [LeftOutReason.CYCLE]: 0,
    [LeftOutReason.BLOCKED]: 0,
  };
  const blockedByRootReason: Record<RootReason, number> = {
    [LeftOutReason.INVALID_NAME]: 0,
    [LeftOutReason.MISSING_DEPENDENCY]: 0,
    [LeftOutReason.CYCLE]: 0,
  };
  for (const l of plan.leftOut) {
    leftOutByReason[l.reason]++;
    if (l.reason === LeftOutReason.BLOCKED) blockedByRootReason[l.rootReason]++;
  }
  const missing = [...plan.missing.entries()]
    .map(([name, neededBy]) => ({ name, neededBy }))
    .sort((a, b) => b.neededBy - a.neededBy || (a.name < b.name ? -1 : 1));
  // Most packages kept out first (the cycle a user must look at), then largest, stable; the
  // packages and edges renumbered to match.
  const byRank = plan.cycles
    .map((_, i) => i)
    .sort(
      (a, b) =>
        plan.cycleImpact[b]! - plan.cycleImpact[a]! || plan.cycles[b]!.length - plan.cycles[a]!.length,
    );
  const rank = new Int32Array(plan.cycles.length);
  byRank.forEach((old, i) => (rank[old] = i));
  const cycles = byRank.map((i) => plan.cycles[i]!);
  const leftOutPackages = plan.leftOut.map((l) =>
    l.reason === LeftOutReason.CYCLE ? { ...l, cycle: rank[l.cycle]! } : l,
  );
  const droppedEdges = plan.droppedEdges
    .map((e) => ({ ...e, cycle: rank[e.cycle]! }))
    .sort((a, b) => a.cycle - b.cycle);
  return {
    sources: sources.map((s) => (s === '-' ? 'stdin' : s)),
    format: parsed.format,
    packages: parsed.packages.length,
    parse: { warningCount: parsed.warningCount, warnings: parsed.warnings, counters: parsed.counters },
    plan: {
      importable: plan.order.length,
      leftOut: plan.leftOut.length,
      leftOutByReason,
      blockedByRootReason,
      cycles,
      cycleImpact: byRank.map((i) => plan.cycleImpact[i]!),
      cyclesBroken,
      droppedEdges,
      letIn: plan.letIn,
      foundOnServer: run === null ? null : plan.foundIndexed,
      missing,
      leftOutPackages,
    },
    run:
      run === null
        ? null
        : {
            server: run.server,
            indexed: run.result.indexed,
            rejected: run.result.rejected,
            elapsedMs: Math.round(run.result.elapsedMs),
            packagesPerSecond: Math.round(run.result.sent / Math.max(run.result.elapsedMs / 1000, 0.001)),
          },
  };
}

const SHOWN = 10;

function list(names: readonly string[], max: number): string {
  return names.length <= max
    ? names.join(', ')
    : `${names.slice(0, max).join(', ')}, … (${names.length} in all)`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The report for a person: short, with the numbers first and a few examples of each problem. */
export function formatReport(report: ImportReport): string {
  const out: string[] = [];
  const { plan } = report;
  out.push(`Source: ${report.sources.join(', ')} (${report.format}): ${count(report.packages)} packages`);
  for (const [what, n] of Object.entries(report.parse.counters)) out.push(`  ${what}: ${count(n)}`);
  if (report.parse.warningCount > 0) {
    out.push(`  lines not understood (skipped): ${count(report.parse.warningCount)}`);
    for (const w of report.parse.warnings.slice(0, 5)) out.push(`    line ${w.line}: ${w.message}`);
  }
  out.push(`Plan: ${count(plan.importable)} importable, ${count(plan.leftOut)} left out`);
  if (plan.foundOnServer !== null && plan.foundOnServer > 0)
    out.push(`  dependencies found on the server, not in the source: ${count(plan.foundOnServer)}`);
  if (plan.cyclesBroken)
    out.push(
      `  cycles broken: ${count(plan.droppedEdges.length)} dependencies dropped in ` +
        `${count(plan.cycles.length)} cycles, letting in ${count(plan.letIn)} packages`,
    );
  const r = plan.leftOutByReason;
  const b = plan.blockedByRootReason;
  if (plan.leftOut > 0) {
    out.push(`  invalid name: ${count(r['invalid-name'])}`);
    out.push(
      `  missing dependency: ${count(r['missing-dependency'])} (${count(plan.missing.length)} names exist nowhere` +
        `${plan.foundOnServer === null ? ': the server was not asked (dry run)' : ', not even on the server'})`,
    );
    out.push(`  on a dependency cycle: ${count(r.cycle)} (${count(plan.cycles.length)} cycles)`);
    out.push(
      `  depends on a left-out package: ${count(r.blocked)} ` +
        `(through a cycle: ${count(b.cycle)}, a missing dependency: ${count(b['missing-dependency'])}, ` +
        `an invalid name: ${count(b['invalid-name'])})`,
    );
  }
  if (plan.missing.length > 0) {
    out.push('Missing dependencies (name: packages needing it):');
    out.push(
      `  ${list(
        plan.missing.map((m) => `${m.name}: ${m.neededBy}`),
        SHOWN,
      )}`,
    );
  }
  if (plan.cycles.length > 0) {
    out.push(
      plan.cyclesBroken
        ? 'Cycles broken, those that let in the most packages first (packages let in: the cycle):'
        : 'Cycles, those that keep out the most packages first (packages kept out: the cycle):',
    );
    plan.cycles.slice(0, SHOWN).forEach((cycle, i) => {
      const impact = plan.cycleImpact[i]!;
      out.push(
        `  ${count(impact)}: ${cycle.length === 2 ? cycle.join(' <-> ') : list(cycle, 8)}` +
          (cycle.length > 2 && cycle.length <= 8 ? ` (${cycle.length} packages)` : ''),
      );
    });
    if (plan.cycles.length > SHOWN) out.push(`  … and ${plan.cycles.length - SHOWN} more`);
  }
  if (plan.droppedEdges.length > 0) {
    out.push('Dependencies dropped (from -> to, the cycle by rank above and its package count):');
    for (const e of plan.droppedEdges.slice(0, SHOWN))
      out.push(`  ${e.from} -> ${e.to} (cycle ${e.cycle + 1}, ${plan.cycles[e.cycle]!.length} packages)`);
    if (plan.droppedEdges.length > SHOWN)
      out.push(`  … and ${plan.droppedEdges.length - SHOWN} more (--json lists them all)`);
  }
  const invalid = plan.leftOutPackages.filter((l) => l.reason === LeftOutReason.INVALID_NAME);
  if (invalid.length > 0)
    out.push(
      `Invalid names: ${list(
        invalid.map((l) => JSON.stringify(l.name)),
        SHOWN,
      )}`,
    );
  if (report.run === null) out.push('Dry run: nothing was sent.');
  else {
    const run = report.run;
    out.push(
      `Import into ${run.server}: ${count(run.indexed)} indexed, ${count(run.rejected.length)} refused, ` +
        `${(run.elapsedMs / 1000).toFixed(2)} s, ${count(run.packagesPerSecond)} packages/s`,
    );
    if (run.rejected.length > 0)
      out.push(
        `  refused: ${list(
          run.rejected.map((x) => `${x.name} (${x.reply})`),
          SHOWN,
        )}`,
      );
  }
  return `${out.join('\n')}\n`;
}
