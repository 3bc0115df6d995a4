import { Histogram, type MetricType, type Registry } from 'prom-client';
import type { BucketCounts } from './bucket-counts.js';

type Value = { value: number; labels: Partial<Record<'le', string | number>>; metricName: string };

/**
 * A Prometheus histogram whose samples are read, at scrape time, from a BucketCounts that the
 * hot path fills with plain increments. prom-client's own Histogram allocates per `observe`,
 * which is fine for storage syncs but not for every read chunk.
 *
 * It extends prom-client's Histogram so that a Registry accepts it, and replaces what the
 * registry reads: `get()` (public) and `getForPromString()` (which Registry.metrics() calls
 * when present).
 */
export class ExportedHistogram extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #source: () => BucketCounts | null;
  /** Multiplies bounds and sum: 0.001 exports milliseconds as seconds. */
  readonly #scale: number;

  constructor(options: {
    name: string;
    help: string;
    registry: Registry;
    source: () => BucketCounts | null;
    scale: number;
  }) {
    super({ name: options.name, help: options.help, registers: [options.registry] });
    this.#name = options.name;
    this.#help = options.help;
    this.#source = options.source;
    this.#scale = options.scale;
  }

  override get(): ReturnType<Histogram['get']> {
    return Promise.resolve({
      name: this.#name,
      help: this.#help,
      // The typings declare an enum; the registry prints this string.
      type: 'histogram' as unknown as MetricType,
      aggregator: 'sum',
      collect: () => undefined,
      values: this.#values(),
    });
  }

  getForPromString(): ReturnType<Histogram['get']> {
    return this.get();
  }

  #values(): Value[] {
    const counts = this.#source();
    const bucket = `${this.#name}_bucket`;
    const values: Value[] = [];
    if (counts === null) return values;
    let cumulative = 0;
    counts.bounds.forEach((bound, i) => {
      cumulative += counts.counts[i]!;
      values.push({ labels: { le: round(bound * this.#scale) }, value: cumulative, metricName: bucket });
    });
    values.push({ labels: { le: '+Inf' }, value: counts.count, metricName: bucket });
    values.push({ labels: {}, value: counts.sum * this.#scale, metricName: `${this.#name}_sum` });
    values.push({ labels: {}, value: counts.count, metricName: `${this.#name}_count` });
    return values;
  }
}

/** 0.05 * 0.001 is 0.00005000000000000001 in binary floating point; print 0.00005. */
function round(n: number): number {
  return Number(n.toPrecision(12));
}
