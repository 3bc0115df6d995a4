/**
 * `measure server-instructions`: what the whole server executes per line of a `pkgindex bench`
 * load, sockets and event loop included, in instructions, which unlike time do not depend on
 * what else this shared machine runs. `measure instructions` counts the in-process hot path
 * only; this one runs `pkgindex serve` (in memory) under callgrind with instrumentation off,
 * warms it with one bench run, switches instrumentation on (`callgrind_control -i on`) for a
 * second run of --ops requests, and off again: start-up and the first compiles are not
 * counted. The count per line divides by every line of the measured run: its requests plus
 * its warm-up and clean-up (the same for every build).
 *
 * Under callgrind the server is ~50 times slower than the client, so reads carry whatever the
 * client has sent: with --in-flight 32 a read holds up to 32 lines per connection, about as
 * at full speed; with strict loads (--in-flight 1), every read has one line, as always. Node
 * runs --single-threaded, so that a count repeats (see instructions.ts), and with
 * --perf-basic-prof-only-functions, whose map of generated code names the JavaScript
 * functions in --top (`callgrind_annotate` alone shows them as bare addresses).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runBenchCli } from '../support/bench-cli.js';
import { eventTotals, parsePerfMap, runCommand, selfCosts } from '../support/callgrind-annotate.js';
import { ToolError, ToolUsageError } from '../support/errors.js';
import { intOption, parseToolArgs, splitArgs } from '../support/options.js';
import { repoRoot } from '../support/paths.js';
import { spawnServer } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js server-instructions [options]

  --dist DIR        a build to measure; repeat for several, run one after the other
                    (default: this checkout's dist)
  --ops N           requests of the measured bench run (default 200000)
  --warmup-ops N    requests of the bench run before it, not counted (default 100000)
  --bench=ARGS      the load, one string with the = (default --bench="--connections 100
                    --in-flight 32"); the same for the warm-up run and the measured one
  --top N           the N functions with the most instructions of their own, per build,
                    JavaScript functions by name
  --storage KIND    memory (default) or disk: the durable store, in a fresh data dir
                    (default sync mode: a group commit per turn, fdatasync included)
  --io KIND         node (default) or native: the server's connection layer (--io native
                    on its one thread: the C++ layer on the owner's event loop, ADR 0019)
  --cache-sim       also simulate the caches: L1 and last-level data misses per line
  --ll SIZE,WAYS,LINE
                    with --cache-sim: the simulated last level (valgrind's --LL), e.g.
                    524288,8,64 to count the misses of a 512 KiB per-core L2 (callgrind
                    simulates two levels; by default the last is this host's shared L3)
  --branch-sim      also simulate the branch predictors: mispredicted conditional and
                    indirect branches per line
  --top-event EVENT what --top ranks by, one of callgrind's events (default Ir,
                    instructions; with --cache-sim also D1mr, D1mw, DLmr, DLmw; with
                    --branch-sim also Bcm, Bim)
  --keep DIR        keep callgrind's output and the perf map in DIR

Needs valgrind (apt-get install valgrind). A build takes one to two minutes.`;

interface Measured {
  /** Callgrind's totals by event (Ir; with the cache simulation D1mr, DLmw, …). */
  readonly totals: Map<string, number>;
  readonly lines: number;
  readonly costs: Map<string, number> | null;
}

async function measure(
  dist: string,
  bench: readonly string[],
  ops: number,
  warmupOps: number,
  top: number,
  keep: string | undefined,
  storage: 'memory' | 'disk',
  io: 'node' | 'native',
  simArgs: readonly string[],
  topEvent: string,
): Promise<Measured> {
  // --keep's dir is made if missing: callgrind cannot, and says only that it cannot open its file.
  if (keep !== undefined) mkdirSync(keep, { recursive: true });
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'pkgindex-server-instructions-'));
  const out = join(dir, `callgrind.${Date.now()}.out`);
  // A directory that does not exist yet: serve creates the index there (an existing empty
  // one is refused, see E_NO_INDEX).
  const dataRoot =
    storage === 'disk' ? mkdtempSync(join(tmpdir(), 'pkgindex-server-instructions-data-')) : undefined;
  const dataDir = dataRoot === undefined ? undefined : join(dataRoot, 'index');
  const server = await spawnServer({
    cli: join(dist, 'src', 'cli', 'main.js'),
    storage,
    dataDir,
    io,
    admin: false,
    launcher: [
      'valgrind',
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${out}`,
      ...simArgs,
    ],
    nodeArgs: ['--single-threaded', '--perf-basic-prof-only-functions'],
    listenTimeoutMs: 180_000,
  });
  const perfMap = `/tmp/perf-${server.pid}.map`;
  try {
    const load = ['--port', String(server.port), ...bench];
    await runBenchCli([...load, '--ops', String(warmupOps)], { timeoutMs: 600_000 });
    await runCommand('callgrind_control', ['-i', 'on', String(server.pid)]);
    const result = await runBenchCli([...load, '--ops', String(ops)], { timeoutMs: 600_000 });
    await runCommand('callgrind_control', ['-i', 'off', String(server.pid)]);
    await server.stop('SIGINT');
    const totals = eventTotals(readFileSync(out, 'utf8'));
    if (totals === null) throw new ToolError(`no totals in ${out}: did callgrind finish?`);
    const lines = result.answered + result.warmup.packages + (result.cleanup?.packages ?? 0);
    let costs: Map<string, number> | null = null;
    if (top > 0) {
      const entries = existsSync(perfMap) ? parsePerfMap(readFileSync(perfMap, 'utf8')) : [];
      costs = selfCosts(
        await runCommand('callgrind_annotate', [
          '--inclusive=no',
          '--threshold=99',
          `--show=${topEvent}`,
          `--sort=${topEvent}`,
          out,
        ]),
        entries,
      );
    }
    return { totals, lines, costs };
  } finally {
    await server.stop('SIGKILL');
    if (dataRoot !== undefined) rmSync(dataRoot, { recursive: true, force: true });
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
    else if (existsSync(perfMap)) copyFileSync(perfMap, join(dir, basename(perfMap)));
    rmSync(perfMap, { force: true });
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      dist: { type: 'string', multiple: true },
      ops: { type: 'string' },
      'warmup-ops': { type: 'string' },
      bench: { type: 'string' },
      top: { type: 'string' },
      keep: { type: 'string' },
      storage: { type: 'string' },
      io: { type: 'string' },
      'cache-sim': { type: 'boolean' },
      'top-event': { type: 'string' },
      ll: { type: 'string' },
      'branch-sim': { type: 'boolean' },
    },
    usage,
  );
  const storage = values.storage ?? 'memory';
  if (storage !== 'memory' && storage !== 'disk')
    throw new ToolUsageError(`--storage must be memory or disk, got "${storage}"`);
  const io = values.io ?? 'node';
  if (io !== 'node' && io !== 'native') throw new ToolUsageError(`--io must be node or native, got "${io}"`);
  const dists = values.dist ?? [join(repoRoot(), 'dist')];
  const ops = intOption('--ops', values.ops, 200_000);
  const warmupOps = intOption('--warmup-ops', values['warmup-ops'], 100_000);
  const top = intOption('--top', values.top, 0, 0);
  const cacheSim = values['cache-sim'] === true;
  const topEvent = values['top-event'] ?? 'Ir';
  if (values.ll !== undefined && (!cacheSim || !/^\d+,\d+,\d+$/.test(values.ll)))
    throw new ToolUsageError(`--ll takes SIZE,WAYS,LINE in bytes (e.g. 524288,8,64) and needs --cache-sim`);
  const branchSim = values['branch-sim'] === true;
  const simArgs = [
    ...(cacheSim ? ['--cache-sim=yes', ...(values.ll === undefined ? [] : [`--LL=${values.ll}`])] : []),
    ...(branchSim ? ['--branch-sim=yes'] : []),
  ];
  const events = [
    'Ir',
    ...(cacheSim ? ['D1mr', 'D1mw', 'DLmr', 'DLmw'] : []),
    ...(branchSim ? ['Bcm', 'Bim'] : []),
  ];
  if (!events.includes(topEvent))
    throw new ToolUsageError(`--top-event must be one of ${events.join(', ')}, got "${topEvent}"`);
  const bench = splitArgs(values.bench ?? '--connections 100 --in-flight 32');
  console.log(
    `load: pkgindex bench ${bench.join(' ')} --ops ${ops}, after ${warmupOps} not counted; --storage ${storage} --io ${io}`,
  );
  for (const dist of dists) {
    const m = await measure(dist, bench, ops, warmupOps, top, values.keep, storage, io, simArgs, topEvent);
    const per = (...names: string[]): number =>
      names.reduce((sum, name) => sum + (m.totals.get(name) ?? 0), 0) / m.lines;
    const instructions = m.totals.get('Ir') ?? 0;
    let line =
      `${dist}: ${Math.round(per('Ir')).toLocaleString('en-US')} instructions per line ` +
      `(${instructions.toLocaleString('en-US')} over ${m.lines.toLocaleString('en-US')} lines)`;
    if (cacheSim)
      line += `; L1d misses ${per('D1mr', 'D1mw').toFixed(1)}, LLd misses ${per('DLmr', 'DLmw').toFixed(2)} per line`;
    if (branchSim)
      line += `; mispredicted branches ${per('Bcm').toFixed(1)} conditional, ${per('Bim').toFixed(1)} indirect per line`;
    console.log(line);
    if (m.costs !== null) {
      const rows = [...m.costs].sort((a, b) => b[1] - a[1]).slice(0, top);
      for (const [name, cost] of rows)
        console.log(`  ${(cost / m.lines).toFixed(topEvent === 'Ir' ? 0 : 2).padStart(8)}  ${name}`);
    }
  }
  return 0;
}
