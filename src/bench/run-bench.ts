/**
 * One benchmark run: warm the index up with the whole data file, then drive the workload
 * from one or more threads, gather what the client saw and what the server spent, and remove
 * what the warm-up indexed, leaving the server as it was.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createError, deserializeError, isPkgIndexError } from '../errors.js';
import { Histogram } from './histogram.js';
import { addCounts, emptyCounts, protocolErrors, type BenchTls, type LoadCounts } from './load-connection.js';
import { LoadShard, type ShardOptions, type ShardResult } from './load-shard.js';
import type { WorkerInput, WorkerMessage } from './load-worker.js';
import { sampleMachine, sampleProcess } from './proc-stats.js';
import { cpus } from 'node:os';
import {
  buildCleanupScript,
  buildScript,
  buildWarmupScript,
  formatMix,
  parseDataFile,
  planWorkload,
  withPrefix,
  type Mix,
  type Script,
} from './workload.js';

export interface BenchOptions {
  readonly host: string;
  readonly port: number;
  /** TLS to the server; null or absent: plain TCP. */
  readonly tls?: BenchTls | null;
  readonly connections: number;
  readonly inFlight: number;
  /** Seconds of load; exclusive with `ops`. */
  readonly durationS: number | null;
  /** Requests to send in all; exclusive with `durationS`. */
  readonly ops: number | null;
  readonly mix: Mix;
  readonly seed: number;
  readonly dataFile: string;
  /** Put before every package name of the data file, so the run stays in its own namespace. */
  readonly prefix: string;
  /** After the run, remove every package the warm-up indexed (dependents first). */
  readonly cleanup: boolean;
  readonly serverPid: number | null;
  /** Threads driving the connections; 1 runs them on the main thread. */
  readonly threads: number;
  /** Check each reply against the one the workload requires; off for the OK-only ceiling server. */
  readonly validate: boolean;
  /** Requests in the rendered script that connections cycle through. */
  readonly scriptLength: number;
  /** Called about once a second with the replies received so far. */
  readonly onProgress?: (answered: number, elapsedS: number) => void;
}

export interface LatencySummary {
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** A phase outside the measurement: one connection, pipelined, every reply checked. */
export interface PhaseResult {
  readonly packages: number;
  readonly elapsedS: number;
  readonly protocolErrors: number;
}

export interface BenchResult {
  /** The options the run used, with the mix as text (as `--mix` takes it). */
  readonly config: Omit<BenchOptions, 'mix' | 'serverPid' | 'scriptLength' | 'onProgress' | 'tls'> & {
    readonly mix: string;
    /** Whether the run spoke TLS (the PEM text is not reported). */
    readonly tls: boolean;
  };
  readonly warmup: PhaseResult & { readonly skipped: number };
  /** The removal of what the warm-up indexed; null with `cleanup: false`. */
  readonly cleanup: PhaseResult | null;
  readonly counts: LoadCounts;
  readonly answered: number;
  readonly protocolErrors: number;
  readonly elapsedS: number;
  readonly opsPerSec: number;
  /** Microseconds, from a request's write to the read that brought its reply. */
  readonly latencyUs: LatencySummary;
  readonly server: {
    readonly pid: number;
    readonly cpuSeconds: number;
    /** The parts of cpuSeconds spent in user space (JS, V8, libuv) and in the kernel. */
    readonly userSeconds: number;
    readonly systemSeconds: number;
    /**
     * The same for the server's main thread alone: pkgindex's index owner, which executes
     * every command, so its CPU per reply is the serial part that more cores do not spread.
     */
    readonly mainUserSeconds: number;
    readonly mainSystemSeconds: number;
    /** CPU time over wall time, in % of one core. */
    readonly cpuPercent: number;
    readonly peakRssBytes: number;
    /** read- and write-like system calls per reply: how well the server batches. */
    readonly readCallsPerOp: number;
    readonly writeCallsPerOp: number;
  } | null;
  readonly client: { readonly cpuSeconds: number; readonly cpuPercent: number };
  /**
   * CPU used by every process on the machine during the load, in % of one core; what the
   * server and this client did not use of it is the neighbours' (Linux only, else null).
   */
  readonly machineCpuPercent: number | null;
}

/** Protocol errors of the whole run: warm-up, measured load and clean-up. */
export function allProtocolErrors(r: BenchResult): number {
  return r.warmup.protocolErrors + r.protocolErrors + (r.cleanup?.protocolErrors ?? 0);
}

/** Hard limit of a run by `--ops`, so a server that stops answering cannot hang it. */
const OPS_LIMIT_MS = 300_000;
const WARMUP_IN_FLIGHT = 64;

/** Sends every request of `script` once on one connection, `WARMUP_IN_FLIGHT` at a time. */
async function runPhase(o: BenchOptions, script: Script): Promise<PhaseResult> {
  const shard = new LoadShard({
    host: o.host,
    port: o.port,
    tls: o.tls ?? null,
    script,
    starts: [0],
    budgets: [script.length],
    inFlight: WARMUP_IN_FLIGHT,
    validate: o.validate,
  });
  await shard.connect();
  const result = await shard.run(null, OPS_LIMIT_MS);
  return {
    packages: script.length,
    elapsedS: result.elapsedMs / 1000,
    protocolErrors: protocolErrors(result.counts),
  };
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const plan = planWorkload(withPrefix(parseDataFile(readFileSync(o.dataFile, 'utf8')), o.prefix), o.seed);
  const warmup = await runPhase(o, buildWarmupScript(plan));

  const script = buildScript(plan, o.mix, o.seed, o.scriptLength);
  const starts: number[][] = Array.from({ length: o.threads }, () => []);
  const budgets: number[][] = Array.from({ length: o.threads }, () => []);
  for (let i = 0; i < o.connections; i++) {
    const t = i % o.threads;
    starts[t]!.push(Math.floor((i * script.length) / o.connections));
    budgets[t]!.push(
      o.ops === null ? Infinity : Math.floor(o.ops / o.connections) + (i < o.ops % o.connections ? 1 : 0),
    );
  }
  const progress = new Float64Array(new SharedArrayBuffer(8 * o.threads));
  const shards: ShardOptions[] = starts.map((s, t) => ({
    host: o.host,
    port: o.port,
    tls: o.tls ?? null,
    script,
    starts: s,
    budgets: budgets[t]!,
    inFlight: o.inFlight,
    validate: o.validate,
    progress,
    progressSlot: t,
  }));
  const durationMs = o.durationS === null ? null : o.durationS * 1000;
  const runner = o.threads === 1 ? new InlineRunner(shards[0]!) : new WorkerRunner(shards, durationMs);
  await runner.connect();

  const before = o.serverPid === null ? null : sampleProcess(o.serverPid);
  const machine0 = sampleMachine();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ticker = setInterval(() => {
    let answered = 0;
    for (const n of progress) answered += n;
    o.onProgress?.(answered, (performance.now() - t0) / 1000);
  }, 1000);
  let results: ShardResult[];
  try {
    results = await runner.run(durationMs, OPS_LIMIT_MS);
  } finally {
    clearInterval(ticker);
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const machine1 = sampleMachine();
  const after = o.serverPid === null ? null : sampleProcess(o.serverPid);
  const cleanup = o.cleanup ? await runPhase(o, buildCleanupScript(plan)) : null;

  const counts = emptyCounts();
  const histogram = new Histogram();
  let elapsedMs = 0;
  for (const r of results) {
    addCounts(counts, r.counts);
    histogram.merge(r.histogram);
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
  }
  const elapsedS = elapsedMs / 1000;
  const us = (ns: number): number => ns / 1000;
  const clientCpuS = (cpu.user + cpu.system) / 1e6;
  return {
    config: {
      host: o.host,
      port: o.port,
      tls: (o.tls ?? null) !== null,
      connections: o.connections,
      inFlight: o.inFlight,
      durationS: o.durationS,
      ops: o.ops,
      mix: formatMix(o.mix),
      seed: o.seed,
      dataFile: o.dataFile,
      prefix: o.prefix,
      cleanup: o.cleanup,
      threads: o.threads,
      validate: o.validate,
    },
    warmup: { ...warmup, skipped: plan.skipped.length },
    cleanup,
    counts,
    answered: histogram.count,
    protocolErrors: protocolErrors(counts),
    elapsedS,
    opsPerSec: elapsedS > 0 ? histogram.count / elapsedS : 0,
    latencyUs: {
      min: us(histogram.min),
      mean: us(histogram.mean),
      p50: us(histogram.quantile(0.5)),
      p90: us(histogram.quantile(0.9)),
      p99: us(histogram.quantile(0.99)),
      p999: us(histogram.quantile(0.999)),
      max: us(histogram.max),
    },
    server:
      before === null || after === null || o.serverPid === null
        ? null
        : {
            pid: o.serverPid,
            cpuSeconds: after.cpuSeconds - before.cpuSeconds,
            userSeconds: after.userSeconds - before.userSeconds,
            systemSeconds: after.systemSeconds - before.systemSeconds,
            mainUserSeconds: after.mainUserSeconds - before.mainUserSeconds,
            mainSystemSeconds: after.mainSystemSeconds - before.mainSystemSeconds,
            cpuPercent: (100 * (after.cpuSeconds - before.cpuSeconds)) / wallS,
            peakRssBytes: after.peakRssBytes,
            readCallsPerOp: (after.readCalls - before.readCalls) / Math.max(1, histogram.count),
            writeCallsPerOp: (after.writeCalls - before.writeCalls) / Math.max(1, histogram.count),
          },
    client: { cpuSeconds: clientCpuS, cpuPercent: (100 * clientCpuS) / wallS },
    machineCpuPercent:
      machine0 === null || machine1 === null || machine1.totalTicks === machine0.totalTicks
        ? null
        : (100 * cpus().length * (machine1.busyTicks - machine0.busyTicks)) /
          (machine1.totalTicks - machine0.totalTicks),
  };
}

interface Runner {
  connect(): Promise<void>;
  run(durationMs: number | null, limitMs: number): Promise<ShardResult[]>;
}

class InlineRunner implements Runner {
  readonly #shard: LoadShard;
  constructor(options: ShardOptions) {
    this.#shard = new LoadShard(options);
  }
  async connect(): Promise<void> {
    try {
      await this.#shard.connect();
    } catch (err) {
      this.#shard.close();
      throw err;
    }
  }
  async run(durationMs: number | null, limitMs: number): Promise<ShardResult[]> {
    return [await this.#shard.run(durationMs, limitMs)];
  }
}

class WorkerRunner implements Runner {
  readonly #workers: Worker[] = [];
  readonly #results: Promise<ShardResult>[] = [];
  readonly #connected: Promise<void>[] = [];

  constructor(shards: readonly ShardOptions[], durationMs: number | null) {
    for (const shard of shards) {
      const input: WorkerInput = { shard, durationMs, limitMs: OPS_LIMIT_MS };
      const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: input });
      this.#workers.push(worker);
      let onConnected: () => void = () => undefined;
      this.#connected.push(new Promise((resolve) => (onConnected = resolve)));
      this.#results.push(
        new Promise((resolve, reject) => {
          worker.on('message', (m: WorkerMessage) => {
            if (m.type === 'connected') onConnected();
            else if (m.type === 'result') resolve(m.result);
            else {
              const err = deserializeError(m.error);
              reject(
                isPkgIndexError(err)
                  ? err
                  : createError('E_BENCH', `a load worker failed: ${err.message}`, { cause: err }),
              );
            }
          });
          worker.on('error', reject);
          worker.on('exit', (code) => {
            reject(
              createError('E_BENCH', `load worker exited with code ${code} before it reported a result`),
            );
          });
        }),
      );
    }
    // Failures surface through run(); a rejection before anyone awaits must not crash the process.
    for (const r of this.#results) r.catch(() => undefined);
  }

  async connect(): Promise<void> {
    try {
      await Promise.race([Promise.all(this.#connected), Promise.all(this.#results)]);
    } catch (err) {
      await this.#terminate();
      throw err;
    }
  }

  async run(): Promise<ShardResult[]> {
    for (const w of this.#workers) w.postMessage('go');
    try {
      return await Promise.all(this.#results);
    } finally {
      await this.#terminate();
    }
  }

  async #terminate(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
