import type { GraphStats } from '../graph/dependency-graph.js';
import { REPLY_NAMES } from '../protocol/reply.js';
import { COMMAND_ROWS, type ServerStats } from '../server/stats.js';
import type { BucketCounts } from './bucket-counts.js';
import { readiness, type HealthReporter, type ServingState } from './readiness.js';

/** Per-second figures of one interval, as the dashboard charts them. */
export interface SignalSample {
  /** End of the interval, ms since the epoch. */
  readonly t: number;
  /** Length of the interval in seconds (about 1; rates are per second of it). */
  readonly seconds: number;
  /** Lines answered per second, by command (INDEX, REMOVE, QUERY, INVALID). */
  readonly commands: Readonly<Record<string, number>>;
  /** Lines answered per second, by reply (OK, FAIL, ERROR). */
  readonly results: Readonly<Record<string, number>>;
  /** Chunk latency quantiles in ms over the interval (histogram estimates); null without samples. */
  readonly latencyP50: number | null;
  readonly latencyP99: number | null;
  readonly connections: number;
  /** Connections accepted per second. */
  readonly accepted: number;
  /**
   * Errors per second: ERROR replies (malformed lines, durability failures), lines too long,
   * refused connections.
   */
  readonly errors: number;
  /** Group commits per second, and their duration quantiles in ms (null without any). */
  readonly syncs: number;
  readonly syncP50: number | null;
  readonly syncP99: number | null;
  readonly packages: number;
  readonly edges: number;
  readonly store: { readonly recovered: boolean; readonly writable: boolean; readonly detail?: string };
  readonly ready: boolean;
}

export interface LiveSignalSources {
  readonly stats: ServerStats;
  readonly server: ServingState;
  readonly store: HealthReporter & { stats(): GraphStats };
  /** The command latency histogram the hot path fills (ms). */
  readonly latency: BucketCounts;
  /** The storage sync durations (ms), filled once per group commit. */
  readonly sync: BucketCounts;
}

/**
 * Turns the server's cumulative counters into per-interval figures: each `sample()` reads the
 * plain numbers the hot path already increments (ServerStats, the latency BucketCounts) and
 * subtracts what it read last time. Nothing is added to the hot path; a sample costs a few
 * dozen reads and one small object, once a second.
 */
export class LiveSignals {
  readonly #sources: LiveSignalSources;
  readonly #commands: Float64Array;
  readonly #latency: Float64Array;
  readonly #sync: Float64Array;
  #errors: number;
  #accepted: number;
  #at: number;

  constructor(sources: LiveSignalSources, now = Date.now()) {
    this.#sources = sources;
    this.#commands = Float64Array.from(sources.stats.commands);
    this.#latency = Float64Array.from(sources.latency.counts);
    this.#sync = Float64Array.from(sources.sync.counts);
    this.#errors = errorCount(sources.stats);
    this.#accepted = sources.stats.connectionsTotal;
    this.#at = now;
  }

  /** The figures since the previous sample (or construction). */
  sample(now = Date.now()): SignalSample {
    const { stats, server, store, latency, sync } = this.#sources;
    const seconds = Math.max((now - this.#at) / 1000, 0.001);
    const rate = (n: number): number => Math.round((n / seconds) * 10) / 10;

    const commands: Record<string, number> = {};
    const results: Record<string, number> = {};
    for (const name of REPLY_NAMES) results[name] = 0;
    COMMAND_ROWS.forEach((command, row) => {
      let total = 0;
      REPLY_NAMES.forEach((result, reply) => {
        const i = row * 3 + reply;
        const delta = stats.commands[i]! - this.#commands[i]!;
        total += delta;
        results[result] = results[result]! + delta;
      });
      commands[command] = rate(total);
    });
    for (const name of REPLY_NAMES) results[name] = rate(results[name]!);
    this.#commands.set(stats.commands);

    const latencyDelta = takeDelta(latency.counts, this.#latency);
    const syncDelta = takeDelta(sync.counts, this.#sync);
    const errors = errorCount(stats);
    const errorDelta = errors - this.#errors;
    this.#errors = errors;
    const accepted = stats.connectionsTotal - this.#accepted;
    this.#accepted = stats.connectionsTotal;
    this.#at = now;

    const health = store.health();
    const graph = store.stats();
    return {
      t: now,
      seconds: Math.round(seconds * 1000) / 1000,
      commands,
      results,
      latencyP50: quantile(latency.bounds, latencyDelta, 0.5),
      latencyP99: quantile(latency.bounds, latencyDelta, 0.99),
      connections: stats.connectionsOpen,
      accepted: rate(accepted),
      errors: rate(errorDelta),
      syncs: rate(sum(syncDelta)),
      syncP50: quantile(sync.bounds, syncDelta, 0.5),
      syncP99: quantile(sync.bounds, syncDelta, 0.99),
      packages: graph.packages,
      edges: graph.edges,
      store:
        health.detail === undefined
          ? { recovered: health.recovered, writable: health.writable }
          : { recovered: health.recovered, writable: health.writable, detail: health.detail },
      ready: readiness(server, store).ready,
    };
  }
}

function errorCount(stats: ServerStats): number {
  let errors = stats.linesTooLong + stats.connectionsRefused;
  for (let row = 0; row < COMMAND_ROWS.length; row++) errors += stats.commands[row * 3 + 2]!;
  return errors;
}

/** `current - previous` per bucket; `previous` becomes `current`. */
function takeDelta(current: Float64Array, previous: Float64Array): Float64Array {
  const delta = new Float64Array(current.length);
  for (let i = 0; i < current.length; i++) delta[i] = current[i]! - previous[i]!;
  previous.set(current);
  return delta;
}

function sum(values: Float64Array): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/**
 * The q-quantile of a histogram given per-bucket counts (the last one above every bound), by
 * linear interpolation inside the bucket it falls in, as Prometheus' histogram_quantile does;
 * values above the last bound are reported as that bound. Null for an empty histogram.
 */
export function quantile(bounds: readonly number[], counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < bounds.length; i++) {
    const count = counts[i]!;
    if (seen + count >= rank && count > 0) {
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return round3(lower + ((upper - lower) * (rank - seen)) / count);
    }
    seen += count;
  }
  return bounds[bounds.length - 1] ?? null;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
