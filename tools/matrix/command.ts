/**
 * `npm run bench` (`node dist/tools/measure.js matrix`): runs the standard matrix and rewrites
 * the "Standard matrix" section of docs/benchmarks.md. Server command lines are configurable,
 * so another build or a storage mode still being built can be measured as soon as it exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { ToolUsageError } from '../support/errors.js';
import { intOption, parseToolArgs, positiveOption, splitArgs } from '../support/options.js';
import { outDir, repoRoot } from '../support/paths.js';
import { formatMatrixMarkdown, writeMatrixSection } from './docs-section.js';
import {
  DEFAULT_SERVER_ARGS,
  SERVER_KINDS,
  SHAPES,
  runMatrix,
  type MatrixOptions,
  type ServerKind,
} from './run-matrix.js';
import { beforeAfterRows, beforeServerArgs, formatBeforeAfter } from './before-after.js';

export const usage = `Usage: npm run bench -- [options]
   or: node dist/tools/measure.js matrix [options]

  --duration SECONDS     per run of a cell (default 2)
  --rounds N             runs of each cell, interleaved with the other servers' (default 3)
  --threads N            client worker threads per cell (default: one per core)
  --seed N               workload seed (default 1)
  --shapes IDS           comma-separated subset of ${SHAPES.map((s) => s.id).join(',')}
  --servers KINDS        comma-separated subset of ${SERVER_KINDS.join(',')}
                         (default: all; each round runs them in that order)
  --memory-args "ARGS"   node arguments of the memory server; {port} is substituted
                         (default "${DEFAULT_SERVER_ARGS.memory.join(' ')}";
                         memory-1t and memory-native keep theirs)
  --durable-args "ARGS"  node arguments of the durable server; {port} and {dataDir} substituted
                         (default "${DEFAULT_SERVER_ARGS.durable.join(' ')}";
                         durable-1t and durable-native keep theirs)
  --round-trip-cpu N     run the 1×1 cells' server and client both on CPU N with taskset
                         (default 0 when taskset exists; see docs/benchmarks.md for why)
  --no-pin               let the scheduler place them
  --no-write             print the table, leave docs/benchmarks.md alone
  --before DIST          a before/after run: the memory and durable servers are the build in
                         DIST (another checkout's dist directory, one thread), the -1t and
                         -native ones this build (an older build knows no --threads or --io);
                         prints this build's ops/s over the other's per cell and leaves
                         docs/benchmarks.md alone (issue 12's bound of 3 %)`;

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      shapes: { type: 'string' },
      servers: { type: 'string' },
      'memory-args': { type: 'string' },
      'durable-args': { type: 'string' },
      'no-write': { type: 'boolean' },
      'round-trip-cpu': { type: 'string' },
      'no-pin': { type: 'boolean' },
      before: { type: 'string' },
    },
    usage,
  );
  const wanted = values.shapes?.split(',');
  const shapes = wanted === undefined ? SHAPES : SHAPES.filter((s) => wanted.includes(s.id));
  if (shapes.length === 0)
    throw new ToolUsageError(`--shapes names none of ${SHAPES.map((s) => s.id).join(',')}`);
  const servers = parseServers(values.servers);
  const roundTripCpu =
    values['no-pin'] === true ? null : intOption('--round-trip-cpu', values['round-trip-cpu'], 0, 0);
  if (roundTripCpu !== null && roundTripCpu >= cpus().length)
    throw new ToolUsageError(`--round-trip-cpu must be a CPU number below ${cpus().length}`);
  if (roundTripCpu !== null && !hasTaskset())
    throw new ToolUsageError(
      'taskset (util-linux) is needed to pin the 1×1 cells; install it or pass --no-pin',
    );
  const before = values.before === undefined ? null : resolve(values.before);
  if (before !== null && !existsSync(join(before, 'src', 'cli', 'main.js')))
    throw new ToolUsageError(`--before: ${before} holds no src/cli/main.js; give a build's dist directory`);
  if (before !== null && (values['memory-args'] !== undefined || values['durable-args'] !== undefined))
    throw new ToolUsageError(
      '--before sets the memory and durable servers: leave out --memory-args and --durable-args',
    );
  const result = await runMatrix({
    durationS: positiveOption('--duration', values.duration, 2),
    rounds: intOption('--rounds', values.rounds, 3),
    threads: intOption('--threads', values.threads, cpus().length),
    seed: intOption('--seed', values.seed, 1, Number.MIN_SAFE_INTEGER),
    shapes,
    servers,
    roundTripCpu,
    serverArgs: matrixServerArgs(before, values['memory-args'], values['durable-args']),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  mkdirSync(outDir(), { recursive: true });
  writeFileSync(join(outDir(), 'matrix.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (before !== null) {
    process.stdout.write(
      `Before/after in one run: memory and durable are ${before}, memory-1t and durable-1t this build.\n\n${formatBeforeAfter(beforeAfterRows(result.cells))}\n`,
    );
    return 0;
  }
  process.stdout.write(`${formatMatrixMarkdown(result)}\n`);
  if (values['no-write'] !== true) {
    writeMatrixSection(join(repoRoot(), 'docs', 'benchmarks.md'), result);
    process.stderr.write('docs/benchmarks.md: "Standard matrix" section rewritten\n');
  }
  return 0;
}

/** The kinds named by --servers (comma-separated), in the order of SERVER_KINDS; all without the flag. */
export function parseServers(text: string | undefined): readonly ServerKind[] {
  if (text === undefined) return SERVER_KINDS;
  const named = text.split(',').filter((s) => s !== '');
  const unknown = named.filter((s) => !(SERVER_KINDS as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new ToolUsageError(
      `--servers: unknown ${unknown.join(',')}; the kinds are ${SERVER_KINDS.join(',')}`,
    );
  if (named.length === 0) throw new ToolUsageError(`--servers names none of ${SERVER_KINDS.join(',')}`);
  return SERVER_KINDS.filter((k) => named.includes(k));
}

/**
 * Each pkgindex kind's `node` arguments. --memory-args and --durable-args replace the memory
 * and durable kinds' only; with --before DIST those two are the other build, and every other
 * kind (-1t, -native) is this build with its defaults: an older build knows no --threads, nor
 * --io, and the before/after table compares it with this build's -1t kinds.
 */
export function matrixServerArgs(
  before: string | null,
  memoryArgs: string | undefined,
  durableArgs: string | undefined,
): MatrixOptions['serverArgs'] {
  const beforeArgs = before === null ? null : beforeServerArgs(before);
  return {
    ...DEFAULT_SERVER_ARGS,
    memory:
      beforeArgs?.memory ?? (memoryArgs === undefined ? DEFAULT_SERVER_ARGS.memory : splitArgs(memoryArgs)),
    durable:
      beforeArgs?.durable ??
      (durableArgs === undefined ? DEFAULT_SERVER_ARGS.durable : splitArgs(durableArgs)),
  };
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}
