/**
 * The standard benchmark matrix (`npm run bench`): each load shape against the C ceiling,
 * pkgindex in memory and pkgindex durable, each server a fresh child process, each load a
 * fresh `pkgindex bench` process. Every headline figure is a ratio to the ceiling measured
 * in the same run, right before, because this machine's other load moves absolute figures.
 */
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { probeHost, type HostSpeed } from './host-probe.js';
import { formatCount, formatUs } from '../../src/bench/report.js';
import { allProtocolErrors, type BenchResult } from '../../src/bench/run-bench.js';
import { FRESH_SERVER_BENCH_ARGS, runBenchCli } from '../support/bench-cli.js';
import { outDir as toolsOutDir, repoRoot } from '../support/paths.js';
import { freePort, startServer, type ChildServer } from '../support/child-server.js';
import { buildCeiling, ceilingArgs } from './ceiling.js';
import { evaluateTargets } from './targets.js';

export interface Shape {
  readonly id: string;
  readonly label: string;
  readonly connections: number;
  readonly inFlight: number;
  readonly mix: string;
}

const MIXED = 'query=80,index=10,remove=10,malformed=0';
const MUTATIONS = 'query=0,index=50,remove=50,malformed=0';

export const SHAPES: readonly Shape[] = [
  { id: '1x1', label: 'strict 1×1', connections: 1, inFlight: 1, mix: MIXED },
  { id: '100x1', label: 'strict 100×1', connections: 100, inFlight: 1, mix: MIXED },
  { id: '1000x1', label: 'strict 1000×1', connections: 1000, inFlight: 1, mix: MIXED },
  { id: '100x32', label: 'pipelined 100×32', connections: 100, inFlight: 32, mix: MIXED },
  { id: 'mut-100x32', label: 'mutations 100×32', connections: 100, inFlight: 32, mix: MUTATIONS },
];

/**
 * The references answer OK to everything: the C ceiling (one epoll loop per core), the same
 * ceiling on one thread (ceiling-1t: what any server whose system calls all run on one thread
 * can reach, against which the one-thread kinds' share of the multi-core ceiling is bounded),
 * that one thread with a turn's reads and writes in one io_uring submission each (ceiling-ring-1t,
 * ADR 0023: the best this protocol reaches on a 2-core VM whose system calls are expensive, the
 * reference a sceptic would pick now that pkgindex batches its calls too)
 * and the Node floor (node-floor.ts: one Node event loop, pkgindex's read path, no index). memory and
 * durable run with Node's sockets and one thread per core (--io node --threads 0); memory-1t and
 * durable-1t with --io node --threads 1 (the default of `pkgindex serve` before --io auto);
 * memory-native and durable-native with `--io native --threads 1`, what `pkgindex serve` runs
 * where the layer is built: the native connection layer reads and writes on the index owner's
 * event loop, and the owner executes every line (ADR 0019).
 */
export type ServerKind =
  | 'ceiling'
  | 'ceiling-1t'
  | 'ceiling-ring-1t'
  | 'node-floor'
  | 'memory'
  | 'memory-1t'
  | 'memory-native'
  | 'durable'
  | 'durable-1t'
  | 'durable-native';
/** Every kind, in the order each round runs them. */
export const SERVER_KINDS: readonly ServerKind[] = [
  'ceiling',
  'ceiling-1t',
  'ceiling-ring-1t',
  'node-floor',
  'memory',
  'memory-1t',
  'memory-native',
  'durable',
  'durable-1t',
  'durable-native',
];

/** The kinds served with `--io native`, whose figures mean nothing if the server fell back to Node's sockets. */
export function isNativeKind(kind: ServerKind): boolean {
  return kind.endsWith('-native');
}

/**
 * Why a native kind's server did not serve natively (the warning it logged on falling back to
 * `--io node`: the layer not built, or an option it does not support), or null if it did.
 */
export function nativeFallback(stderr: string): string | null {
  const at = stderr.indexOf('--io native cannot serve');
  if (at < 0) return null;
  const end = stderr.indexOf('"', at);
  return stderr.slice(at, end < 0 ? undefined : end).split('\n')[0]!;
}

/** The `unavailable` of a native kind's cell whose server fell back to Node's sockets. */
const NOT_NATIVE = 'not served natively';

/** The servers that answer OK to every line: their replies are not checked against the workload. */
function answersOkToEverything(kind: ServerKind): boolean {
  return kind === 'ceiling' || kind === 'ceiling-1t' || kind === 'ceiling-ring-1t' || kind === 'node-floor';
}

/**
 * A cell whose load generator used at least this share of its threads' CPU (one core each)
 * measured the client, not the server: its ratio is not claimed (issue 13).
 */
export const CLIENT_BOUND_SHARE = 0.9;

/** Whether a run was client-bound: the client's CPU at its threads' limit. */
export function isClientBound(result: BenchResult, clientThreads: number): boolean {
  return result.client.cpuPercent >= CLIENT_BOUND_SHARE * 100 * clientThreads;
}

export interface MatrixOptions {
  readonly durationS: number;
  /** Each cell runs this many times, interleaved with the other servers' runs of its shape. */
  readonly rounds: number;
  readonly threads: number;
  readonly seed: number;
  /** The kinds to run, in the order of SERVER_KINDS (default: all of them); the others have no cell. */
  readonly servers?: readonly ServerKind[];
  /** Arguments of `node` for each pkgindex mode (run in the checkout); `{port}` and `{dataDir}` are substituted. */
  readonly serverArgs: Readonly<
    Record<
      Exclude<ServerKind, 'ceiling' | 'ceiling-1t' | 'ceiling-ring-1t' | 'node-floor'>,
      readonly string[]
    >
  >;
  readonly shapes: readonly Shape[];
  /**
   * The CPU that the strict 1×1 cells run on, server and load generator both (with taskset),
   * or null to let the scheduler place them. With one request in flight the two never run
   * at once, so sharing a CPU costs nothing; on different CPUs every round trip wakes an idle
   * CPU, which on this VM costs 2-4× the whole round trip, depending on the neighbours' load
   * from one second to the next. Other cells are not pinned: they need both CPUs.
   */
  readonly roundTripCpu: number | null;
  readonly log: (line: string) => void;
}

/** What every benchmarked server gets; the kinds differ only in their storage, thread and I/O flags. */
const SERVE_ARGS = [
  'dist/src/cli/main.js',
  'serve',
  '--host',
  '127.0.0.1',
  '--port',
  '{port}',
  '--admin-port',
  '0',
  '--quiet',
];

export const DEFAULT_SERVER_ARGS: MatrixOptions['serverArgs'] = {
  // Node's sockets by name: the default, --io auto, is the native layer where it is built.
  memory: [...SERVE_ARGS, '--storage', 'memory', '--io', 'node', '--threads', '0'],
  'memory-1t': [...SERVE_ARGS, '--storage', 'memory', '--io', 'node', '--threads', '1'],
  durable: [...SERVE_ARGS, '--storage', 'disk', '--data-dir', '{dataDir}', '--io', 'node', '--threads', '0'],
  'durable-1t': [
    ...SERVE_ARGS,
    '--storage',
    'disk',
    '--data-dir',
    '{dataDir}',
    '--io',
    'node',
    '--threads',
    '1',
  ],
  'memory-native': [...SERVE_ARGS, '--storage', 'memory', '--io', 'native', '--threads', '1'],
  'durable-native': [
    ...SERVE_ARGS,
    '--storage',
    'disk',
    '--data-dir',
    '{dataDir}',
    '--io',
    'native',
    '--threads',
    '1',
  ],
};

export interface Cell {
  readonly shape: Shape;
  readonly server: ServerKind;
  readonly result: BenchResult | null;
  /** Why there is no result: the server mode does not exist yet, a native kind fell back to Node's sockets, or the run failed. */
  readonly unavailable: string | null;
  /** CPU time of every other process on the machine during the cell, in % of one core. */
  readonly othersCpuPercent: number | null;
  /** ops/s of each round, in the order run; the ratio of round i compares with the ceiling's round i. */
  readonly samples: readonly number[];
  /** Server CPU per reply of each round (µs, user + kernel; null without the server's figures). */
  readonly cpuSamples: readonly (number | null)[];
  /** Protocol errors summed over every round, warm-ups included. */
  readonly errorsAllRounds: number;
  /**
   * The median round's load generator was at its threads' CPU limit: the cell measured the
   * client, and no ratio is claimed from it (null: no result).
   */
  readonly clientBound: boolean | null;
}

/** One run of one cell. */
type Run =
  | { readonly result: BenchResult; readonly unavailable: null; readonly othersCpuPercent: number | null }
  | { readonly result: null; readonly unavailable: string; readonly othersCpuPercent: null };

/**
 * The rounds of a cell as one: the round with the median throughput stands for the cell (so
 * every column comes from one run), the others are kept as ops/s samples, and a protocol error
 * in any round counts.
 */
function combine(shape: Shape, server: ServerKind, runs: readonly Run[], clientThreads: number): Cell {
  const failed = runs.find((r) => r.result === null);
  if (failed !== undefined || runs.length === 0)
    return {
      shape,
      server,
      result: null,
      unavailable: failed?.unavailable ?? 'not run',
      othersCpuPercent: null,
      samples: [],
      cpuSamples: [],
      errorsAllRounds: 0,
      clientBound: null,
    };
  const measured = runs as readonly Extract<Run, { result: BenchResult }>[];
  const sorted = [...measured].sort((a, b) => a.result.opsPerSec - b.result.opsPerSec);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    shape,
    server,
    result: median.result,
    unavailable: null,
    othersCpuPercent: median.othersCpuPercent,
    samples: measured.map((r) => r.result.opsPerSec),
    cpuSamples: measured.map((r) => cpuUsPerReply(r.result)),
    errorsAllRounds: measured.reduce((n, r) => n + allProtocolErrors(r.result), 0),
    clientBound: isClientBound(median.result, clientThreads),
  };
}

export interface Target {
  readonly label: string;
  readonly required: string;
  readonly measured: string;
  readonly met: boolean | null;
}

export interface MatrixResult {
  readonly date: string;
  readonly machine: {
    readonly cores: number;
    readonly cpu: string;
    readonly node: string;
    readonly loadavg: string;
    /** The host's speed for one thread before and after the run (host-probe.ts). */
    readonly hostSpeed: HostSpeed;
  };
  readonly command: string;
  readonly options: {
    readonly durationS: number;
    readonly rounds: number;
    readonly threads: number;
    readonly seed: number;
    readonly roundTripCpu: number | null;
  };
  readonly cells: readonly Cell[];
  readonly targets: readonly Target[];
}

async function startKind(
  kind: ServerKind,
  cpu: number | undefined,
  options: MatrixOptions,
  root: string,
  dataDir: string,
): Promise<ChildServer> {
  const port = await freePort();
  if (kind === 'ceiling' || kind === 'ceiling-1t')
    return startServer(buildCeiling(root), ceilingArgs(port, kind === 'ceiling-1t' ? 1 : undefined), port);
  if (kind === 'ceiling-ring-1t') return startServer(buildCeiling(root), ceilingArgs(port, 1, true), port);
  if (kind === 'node-floor')
    return startServer(
      process.execPath,
      [join(root, 'dist', 'tools', 'matrix', 'node-floor.js'), String(port)],
      port,
    );
  const args = options.serverArgs[kind].map((a) =>
    a.replaceAll('{port}', String(port)).replaceAll('{dataDir}', dataDir),
  );
  return startServer(process.execPath, args, port);
}

function runCellLoad(
  cpu: number | undefined,
  shape: Shape,
  server: ChildServer,
  kind: ServerKind,
  options: MatrixOptions,
): Promise<BenchResult> {
  const args = [
    '--port',
    String(server.port),
    '--server-pid',
    String(server.pid),
    '--connections',
    String(shape.connections),
    '--in-flight',
    String(shape.inFlight),
    '--duration',
    String(options.durationS),
    '--mix',
    shape.mix,
    '--seed',
    String(options.seed),
    '--threads',
    String(options.threads),
    ...FRESH_SERVER_BENCH_ARGS,
  ];
  if (answersOkToEverything(kind)) args.push('--no-validate');
  return runBenchCli(args, { cpu, timeoutMs: (options.durationS + 120) * 1000 });
}

/** The server's CPU per reply, user + kernel together, in µs (null without its figures). */
export function cpuUsPerReply(result: BenchResult): number | null {
  const s = result.server;
  if (s === null || result.answered === 0) return null;
  return ((s.userSeconds + s.systemSeconds) * 1e6) / result.answered;
}

/**
 * The server's CPU per reply, user + kernel, in µs: what the server spends on a request,
 * whatever the client could offer (issue 13); then its main thread's alone, user and kernel
 * together, when the result has it: in pkgindex the index owner, the serial part.
 */
export function cpuPerReply(result: BenchResult): string {
  const s = result.server;
  if (s === null || result.answered === 0) return '';
  const us = (seconds: number): string => ((seconds * 1e6) / result.answered).toFixed(1);
  const main =
    typeof s.mainUserSeconds === 'number' && typeof s.mainSystemSeconds === 'number'
      ? `; main thread ${us(s.mainUserSeconds + s.mainSystemSeconds)}`
      : '';
  return `${us(s.userSeconds)} + ${us(s.systemSeconds)} µs${main}`;
}

/** Runs every shape against every server kind, ceiling first, so each ratio compares neighbours in time. */
export async function runMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const root = repoRoot();
  const outDir = toolsOutDir(root);
  mkdirSync(outDir, { recursive: true });
  const kinds = SERVER_KINDS.filter((k) => options.servers?.includes(k) ?? true);
  const cells: Cell[] = [];
  const unavailable = new Map<ServerKind, string>();
  const startLoad = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const startNs = probeHost();
  options.log(`host probe at the start: ${startNs.toFixed(0)} ns a line`);
  for (const shape of options.shapes) {
    const runs = new Map<ServerKind, Run[]>(kinds.map((k) => [k, []]));
    for (let round = 0; round < options.rounds; round++)
      for (const kind of kinds) {
        const known = unavailable.get(kind);
        const run =
          known !== undefined
            ? { result: null, unavailable: known, othersCpuPercent: null }
            : await runOnce(shape, kind);
        if (
          run.result === null &&
          ((kind.startsWith('durable') && run.unavailable.startsWith('not available yet')) ||
            run.unavailable.startsWith(NOT_NATIVE))
        )
          unavailable.set(kind, run.unavailable);
        runs.get(kind)!.push(run);
      }
    for (const kind of kinds) cells.push(combine(shape, kind, runs.get(kind)!, options.threads));
  }

  async function runOnce(shape: Shape, kind: ServerKind): Promise<Run> {
    const dataDir = newDataDir(`data-${kind}-`, outDir);
    const cpu = shape.connections * shape.inFlight === 1 ? (options.roundTripCpu ?? undefined) : undefined;
    let server: ChildServer;
    try {
      server = await startKind(kind, cpu, options, root, dataDir);
    } catch (err) {
      removeDataDir(dataDir);
      throw err;
    }
    try {
      const result = await runCellLoad(cpu, shape, server, kind, options);
      const fellBack = isNativeKind(kind) ? nativeFallback(server.stderr()) : null;
      if (fellBack !== null) {
        const why = `${NOT_NATIVE}: ${fellBack}`;
        options.log(`${shape.label.padEnd(18)} ${kind.padEnd(14)} ${why}`);
        return { result: null, unavailable: why, othersCpuPercent: null };
      }
      const others =
        result.machineCpuPercent === null || result.server === null
          ? null
          : Math.max(0, result.machineCpuPercent - result.server.cpuPercent - result.client.cpuPercent);
      const perReply = result.server === null ? '' : `  server ${cpuPerReply(result)}`;
      options.log(
        `${shape.label.padEnd(18)} ${kind.padEnd(14)} ${formatCount(result.opsPerSec).padStart(10)} ops/s  p50 ${formatUs(result.latencyUs.p50)}  max ${formatUs(result.latencyUs.max)}${perReply}  client ${result.client.cpuPercent.toFixed(0)} %${isClientBound(result, options.threads) ? ' (client-bound)' : ''}  errors ${result.protocolErrors}`,
      );
      return { result, unavailable: null, othersCpuPercent: others };
    } catch (err) {
      const why = `failed: ${(err as Error).message.split('\n')[0] ?? ''}`;
      options.log(`${shape.label.padEnd(18)} ${kind.padEnd(14)} ${why} ${server.stderr().slice(-500)}`);
      return { result: null, unavailable: why, othersCpuPercent: null };
    } finally {
      await server.stop();
      removeDataDir(dataDir);
    }
  }

  const endNs = probeHost();
  options.log(`host probe at the end: ${endNs.toFixed(0)} ns a line`);
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    machine: {
      cores: cpu.length,
      cpu: cpu[0]?.model ?? 'unknown',
      node: process.version,
      loadavg: startLoad,
      hostSpeed: { startNs, endNs },
    },
    command: 'npm run bench',
    options: {
      durationS: options.durationS,
      rounds: options.rounds,
      threads: options.threads,
      seed: options.seed,
      roundTripCpu: options.roundTripCpu,
    },
    cells,
    targets: evaluateTargets(cells),
  };
}
