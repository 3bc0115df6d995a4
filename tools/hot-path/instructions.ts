/**
 * `measure instructions`: the hot path's cost per message in instructions (and, with
 * --cache-sim, simulated cache misses), which, unlike time, do not depend on what else the
 * machine runs. Runs `measure hot-path --messages N` under valgrind's callgrind (every thread
 * of the process counted: the garbage collector and the compiler included) at two message
 * counts, and reports the difference of the two totals per message of the difference:
 * start-up, the warm-up and most of the JIT's work cancel out. Each build in --dist
 * (repeatable) is measured --repeat times, builds interleaved. Node runs with
 * --single-threaded (compiles and collections in the main thread), so that the count repeats:
 * the same build gave 3,095 and 5,010 instructions per message without it, 2,985 and 3,058
 * with it (docs/benchmarks.md, stop 22).
 *
 * A run takes a minute or more (callgrind runs node some 50 times slower); --jobs runs several
 * at once, which changes the wall time, not the counts. --top N lists the functions whose
 * share grew between the two counts (V8's generated code is one line, "JIT code (unmapped)":
 * this tool does not write node's perf map; `measure server-instructions` names those functions).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, selfCosts } from '../support/callgrind-annotate.js';
import { ToolError, ToolUsageError } from '../support/errors.js';
import { intOption, parseToolArgs } from '../support/options.js';
import { repoRoot } from '../support/paths.js';

export const usage = `Usage: node dist/tools/measure.js instructions [options]

  --dist DIR          a build to measure; repeat for several (default: this checkout's dist)
  --messages LO,HI    the two message counts (default 500000,900000), rounded up to whole chunks
  --repeat N          measurements per build, interleaved across builds (default 1)
  --jobs N            valgrind runs at once (default 2)
  --cache-sim         also simulate the caches: L1 and last-level data misses per message
  --top N             the N functions whose cost per message is largest, per build
  --keep DIR          keep callgrind's output files in DIR (for callgrind_annotate)
  --mix SPEC          workload mix (default: the bench's; with --store disk index=50,remove=50)
  --graph             count the graph alone (measure graph-mutations: the workload on a
                      DependencyGraph, no server) instead of the hot path
  --batch N           lines per read chunk (default 32)
  --store memory|disk the store under the connections (default memory); with disk, each turn
                      is one chunk per connection and one group commit (see measure hot-path)
  --connections N     with --store disk: connections fed in turn (default 100)
  --sync-mode MODE    with --store disk: durable or relaxed (default durable)`;

interface Run {
  readonly dist: string;
  readonly messages: number;
  /** Event name (Ir, D1mr, ...) to count, once run. */
  counts?: Map<string, number>;
  file?: string;
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    {
      dist: { type: 'string', multiple: true },
      messages: { type: 'string' },
      repeat: { type: 'string' },
      jobs: { type: 'string' },
      'cache-sim': { type: 'boolean' },
      top: { type: 'string' },
      keep: { type: 'string' },
      mix: { type: 'string' },
      batch: { type: 'string' },
      graph: { type: 'boolean' },
      store: { type: 'string' },
      connections: { type: 'string' },
      'sync-mode': { type: 'string' },
    },
    usage,
  );
  const store = values.store ?? 'memory';
  if (store !== 'memory' && store !== 'disk')
    throw new ToolUsageError(`--store must be memory or disk, got "${store}"`);
  if (store === 'memory' && (values.connections !== undefined || values['sync-mode'] !== undefined))
    throw new ToolUsageError('--connections and --sync-mode are for --store disk only');
  const connections = intOption('--connections', values.connections, 100);
  const root = repoRoot();
  const dists = values.dist ?? [join(root, 'dist')];
  const batch = intOption('--batch', values.batch, 32);
  // Whole chunks; with the disk store, whole turns of one chunk per connection.
  const unit = store === 'disk' ? batch * connections : batch;
  const [lo, hi] = (values.messages ?? '500000,900000')
    .split(',')
    .map((n) => Math.ceil(Number(n) / unit) * unit);
  if (lo === undefined || hi === undefined || !(lo >= 0 && hi > lo))
    throw new ToolUsageError(`--messages must be LO,HI with 0 ≤ LO < HI, got "${values.messages}"`);
  const repeat = intOption('--repeat', values.repeat, 1);
  const jobs = intOption('--jobs', values.jobs, 2);
  const top = intOption('--top', values.top, 0, 0);
  const cacheSim = values['cache-sim'] === true;
  const graph = values.graph === true;
  if (graph && store === 'disk') throw new ToolUsageError('--graph counts the graph alone: no --store disk');
  const mixArgs = values.mix === undefined ? [] : ['--mix', values.mix];
  const extra = graph
    ? mixArgs
    : [
        ...mixArgs,
        '--rounds',
        '1',
        '--batch',
        String(batch),
        ...(store === 'disk'
          ? [
              '--store',
              'disk',
              '--connections',
              String(connections),
              '--sync-mode',
              values['sync-mode'] ?? 'durable',
            ]
          : []),
      ];

  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'pkgindex-callgrind-'));
  mkdirSync(dir, { recursive: true });
  try {
    // This build's own tool (not the checkout's dist, which a rebuild may change under a long run).
    const tool = fileURLToPath(new URL('../measure.js', import.meta.url));
    const runs: Run[] = [];
    for (let r = 0; r < repeat; r++)
      for (const dist of dists) for (const messages of [lo, hi]) runs.push({ dist, messages });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const run = runs[next++]!;
        const args = [
          graph ? 'graph-mutations' : 'hot-path',
          '--dist',
          run.dist,
          '--messages',
          String(run.messages),
          ...extra,
        ];
        const done = await callgrind(dir, cacheSim, tool, args);
        run.counts = done.counts;
        run.file = done.file;
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, runs.length) }, worker));

    const span = hi - lo;
    const mixLabel = values.mix ?? (store === 'disk' ? 'index=50,remove=50' : 'the bench default');
    const where =
      store === 'disk' ? `, disk store ${values['sync-mode'] ?? 'durable'}, ${connections} connections` : '';
    console.log(
      `per message, callgrind, (count at ${hi} - count at ${lo}) / ${span}; mix ${mixLabel}, ${graph ? 'the graph alone' : `batch ${batch}${where}`}`,
    );
    for (const dist of dists) {
      const pairs: [Run, Run][] = [];
      const mine = runs.filter((x) => x.dist === dist);
      for (let r = 0; r < repeat; r++) pairs.push([mine[2 * r]!, mine[2 * r + 1]!]);
      const per = (event: (c: Map<string, number>) => number): number[] =>
        pairs.map(([a, b]) => (event(b.counts!) - event(a.counts!)) / span);
      const parts = [
        describe(
          'instructions',
          per((c) => c.get('Ir') ?? 0),
        ),
      ];
      if (cacheSim) {
        parts.push(
          describe(
            'L1d misses',
            per((c) => (c.get('D1mr') ?? 0) + (c.get('D1mw') ?? 0)),
          ),
        );
        parts.push(
          describe(
            'LLd misses',
            per((c) => (c.get('DLmr') ?? 0) + (c.get('DLmw') ?? 0)),
          ),
        );
      }
      console.log(`${dist}: ${parts.join('; ')}`);
      if (top > 0) {
        const [a, b] = pairs[pairs.length - 1]!;
        const before = await functionCosts(a.file!);
        const after = await functionCosts(b.file!);
        const rows = [...new Set([...before.keys(), ...after.keys()])]
          .map((name) => ({ name, per: ((after.get(name) ?? 0) - (before.get(name) ?? 0)) / span }))
          .sort((x, y) => Math.abs(y.per) - Math.abs(x.per))
          .slice(0, top);
        for (const row of rows) console.log(`  ${row.per.toFixed(1).padStart(8)}  ${row.name}`);
      }
    }
  } finally {
    if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

/** `name median [each]` of per-message figures. */
function describe(name: string, figures: number[]): string {
  const sorted = [...figures].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const each = figures.length > 1 ? ` [${figures.map((x) => x.toFixed(0)).join(' ')}]` : '';
  return `${name} ${median.toFixed(name === 'instructions' ? 0 : 1)}${each}`;
}

/** Runs `node tool args…` under callgrind: its event totals (all threads) and its output file. */
function callgrind(
  dir: string,
  cacheSim: boolean,
  tool: string,
  args: readonly string[],
): Promise<{ counts: Map<string, number>; file: string }> {
  return new Promise((resolve, reject) => {
    const tag = `${args.join('_').replaceAll(/[^\w.-]+/g, '_')}.${process.pid}.${Math.random().toString(36).slice(2, 8)}`;
    const file = join(dir, `callgrind.${tag.slice(-120)}`);
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${file}`,
        ...(cacheSim ? ['--cache-sim=yes'] : []),
        process.execPath,
        // No background compiles or collections: with them, when optimized code arrives
        // depends on how valgrind schedules the threads, and the same build's count moved by
        // up to ±40 % between runs; in one thread the tier-up points, and the count, repeat.
        '--single-threaded',
        tool,
        ...args,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', (err) => {
      reject(new ToolError(`cannot run valgrind (apt-get install valgrind): ${err.message}`));
    });
    child.on('close', (code) => {
      const events = /Events\s*:\s*([\w ]+)\n/.exec(stderr)?.[1]?.trim().split(/\s+/);
      const collected = /Collected\s*:\s*([\d ]+)\n/.exec(stderr)?.[1]?.trim().split(/\s+/);
      if (code !== 0 || events === undefined || collected === undefined)
        reject(new ToolError(`valgrind ${args.join(' ')} failed (status ${code}):\n${stderr.slice(-2000)}`));
      else resolve({ counts: new Map(events.map((e, i) => [e, Number(collected[i])])), file });
    });
  });
}

/** Instructions per function of a callgrind output file (V8's generated code summed as one). */
async function functionCosts(file: string): Promise<Map<string, number>> {
  return selfCosts(
    await runCommand('callgrind_annotate', ['--threshold=100', '--show=Ir', '--auto=no', file]),
    [],
  );
}
