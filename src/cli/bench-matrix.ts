/**
 * `npm run bench`: runs the standard matrix and rewrites the "Standard matrix" section of
 * docs/benchmarks.md. Server command lines are configurable, so a storage mode still being
 * built can be measured as soon as it exists.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../bench/child-server.js';
import { DEFAULT_SERVER_ARGS, SHAPES, runMatrix } from '../bench/matrix.js';
import { formatMatrixMarkdown, writeMatrixSection } from '../bench/matrix-report.js';
import { createError } from '../errors.js';

export const MATRIX_USAGE = `Usage: npm run bench -- [options]

  --duration SECONDS     per run of a cell (default 2)
  --rounds N             runs of each cell, interleaved with the other servers' (default 3)
  --threads N            client worker threads per cell (default 1)
  --seed N               workload seed (default 1)
  --shapes IDS           comma-separated subset of ${SHAPES.map((s) => s.id).join(',')}
  --memory-args "ARGS"   node arguments of the in-memory server; {port} is substituted
                         (default "${DEFAULT_SERVER_ARGS.memory.join(' ')}")
  --durable-args "ARGS"  node arguments of the durable server; {port} and {dataDir} substituted
                         (default "${DEFAULT_SERVER_ARGS.durable.join(' ')}")
  --round-trip-cpu N     run the 1×1 cells' server and client both on CPU N with taskset
                         (default 0 when taskset exists; see docs/benchmarks.md for why)
  --no-pin               let the scheduler place them
  --no-write             print the table, leave docs/benchmarks.md alone`;

export async function benchMatrixMain(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      shapes: { type: 'string' },
      'memory-args': { type: 'string' },
      'durable-args': { type: 'string' },
      'no-write': { type: 'boolean' },
      'round-trip-cpu': { type: 'string' },
      'no-pin': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${MATRIX_USAGE}\n`);
    return 0;
  }
  const durationS = Number(values.duration ?? 2);
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw createError('E_USAGE', `--rounds must be a positive integer`);
  const threads = Number(values.threads ?? 1);
  const seed = Number(values.seed ?? 1);
  if (!(durationS > 0) || !Number.isInteger(threads) || threads < 1 || !Number.isInteger(seed))
    throw createError('E_USAGE', `bad --duration, --threads or --seed\n\n${MATRIX_USAGE}`);
  const wanted = values.shapes?.split(',');
  const shapes = wanted === undefined ? SHAPES : SHAPES.filter((s) => wanted.includes(s.id));
  if (shapes.length === 0)
    throw createError('E_USAGE', `--shapes names none of ${SHAPES.map((s) => s.id).join(',')}`);
  const roundTripCpu = values['no-pin'] === true ? null : Number(values['round-trip-cpu'] ?? 0);
  if (
    roundTripCpu !== null &&
    (!Number.isInteger(roundTripCpu) || roundTripCpu < 0 || roundTripCpu >= cpus().length)
  )
    throw createError('E_USAGE', `--round-trip-cpu must be a CPU number below ${cpus().length}`);
  if (roundTripCpu !== null && !hasTaskset())
    throw createError(
      'E_USAGE',
      'taskset (util-linux) is needed to pin the 1×1 cells; install it or pass --no-pin',
    );
  const split = (s: string | undefined): string[] | undefined => s?.split(' ').filter((a) => a !== '');
  const result = await runMatrix({
    durationS,
    rounds,
    threads,
    seed,
    shapes,
    roundTripCpu,
    serverArgs: {
      memory: split(values['memory-args']) ?? DEFAULT_SERVER_ARGS.memory,
      durable: split(values['durable-args']) ?? DEFAULT_SERVER_ARGS.durable,
    },
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const root = repoRoot();
  mkdirSync(join(root, 'bench', 'out'), { recursive: true });
  writeFileSync(join(root, 'bench', 'out', 'matrix.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${formatMatrixMarkdown(result)}\n`);
  if (values['no-write'] !== true) {
    writeMatrixSection(join(root, 'docs', 'benchmarks.md'), result);
    process.stderr.write('docs/benchmarks.md: "Standard matrix" section rewritten\n');
  }
  return 0;
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}
