/**
 * The connections one thread drives. The main thread runs one shard itself, or starts
 * worker threads that each run one (see load-worker.ts), so the generator can use more than
 * one core when the client, not the server, would be the bottleneck.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Histogram, type HistogramSnapshot } from './histogram.js';
import { LoadConnection, emptyCounts, type BenchTls, type LoadCounts } from './load-connection.js';
import type { Script } from './workload.js';
import { createError } from '../errors.js';

export interface ShardOptions {
  readonly host: string;
  readonly port: number;
  /** Null: plain TCP. */
  readonly tls: BenchTls | null;
  readonly script: Script;
  /** One entry per connection: where in the script it starts, and how many requests it sends. */
  readonly starts: readonly number[];
  readonly budgets: readonly number[];
  readonly inFlight: number;
  readonly validate: boolean;
  /** Where this shard publishes its answered count for the progress line; read by the main thread. */
  readonly progress?: Float64Array;
  readonly progressSlot?: number;
}

export interface ShardResult {
  readonly counts: LoadCounts;
  readonly histogram: HistogramSnapshot;
  /** From the first write to the last reply (or to the give-up time). */
  readonly elapsedMs: number;
}

/** How long to wait, after the end of the run, for replies still outstanding. */
const DRAIN_TIMEOUT_MS = 10_000;
/** Connections opened at once: past the server's listen backlog, SYNs are dropped and retried 1 s later. */
const CONNECT_BATCH = 64;

export class LoadShard {
  readonly #o: ShardOptions;
  readonly #histogram = new Histogram();
  readonly #counts = emptyCounts();
  readonly #connections: LoadConnection[] = [];

  constructor(options: ShardOptions) {
    this.#o = options;
  }

  async connect(): Promise<void> {
    const o = this.#o;
    for (let i = 0; i < o.starts.length; i += CONNECT_BATCH) {
      const batch: LoadConnection[] = [];
      for (let j = i; j < Math.min(i + CONNECT_BATCH, o.starts.length); j++)
        batch.push(
          new LoadConnection({
            script: o.script,
            start: o.starts[j]!,
            budget: o.budgets[j]!,
            inFlight: o.inFlight,
            validate: o.validate,
            histogram: this.#histogram,
            counts: this.#counts,
          }),
        );
      this.#connections.push(...batch);
      try {
        await Promise.all(batch.map((c) => c.connect(o.host, o.port, o.tls)));
      } catch (err) {
        this.close();
        throw createError(
          'E_BENCH',
          `cannot connect to ${o.host}:${o.port} (${(err as NodeJS.ErrnoException).code ?? String(err)}); is the server running there? Pass --host and --port`,
          { cause: err },
        );
      }
    }
  }

  /**
   * Runs the load for `durationMs`, or until every connection has used its budget when null
   * (but never past `limitMs`), then waits for the outstanding replies and closes every
   * connection. Requests never answered are counted missing.
   */
  async run(durationMs: number | null, limitMs: number): Promise<ShardResult> {
    const t0 = performance.now();
    const timer = setInterval(() => {
      this.#publish();
    }, 200);
    try {
      for (const c of this.#connections) c.start();
      const allDone = Promise.all(this.#connections.map((c) => c.done));
      await within(allDone, durationMs ?? limitMs);
      for (const c of this.#connections) c.stop();
      await within(allDone, DRAIN_TIMEOUT_MS);
      const elapsedMs = performance.now() - t0;
      return { counts: this.#counts, histogram: this.#histogram.snapshot(), elapsedMs };
    } finally {
      clearInterval(timer);
      this.close();
      this.#publish();
    }
  }

  close(): void {
    for (const c of this.#connections) c.close();
  }

  #publish(): void {
    const { progress, progressSlot } = this.#o;
    if (progress !== undefined && progressSlot !== undefined) progress[progressSlot] = this.#histogram.count;
  }
}

/** Waits for `promise`, or `ms`, whichever comes first. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([promise, sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined)]);
  } finally {
    ac.abort();
  }
}
