// The golden-signal charts: uPlot (bundled from its npm package, loaded by index.html as a
// classic script, hence the global) draws each series of the samples the server pushes.

import type UPlot from 'uplot';
import { el, fill } from './dom.js';

declare const uPlot: typeof UPlot;

/** One sample as the server sends it (src/observability/live-signals.ts, SignalSample). */
export interface Sample {
  readonly t: number;
  readonly commands: Readonly<Record<string, number>>;
  readonly results: Readonly<Record<string, number>>;
  readonly latencyP50: number | null;
  readonly latencyP99: number | null;
  readonly connections: number;
  readonly accepted: number;
  readonly errors: number;
  readonly syncs: number;
  readonly syncP50: number | null;
  readonly syncP99: number | null;
  readonly packages: number;
  readonly edges: number;
  readonly store: { readonly recovered: boolean; readonly writable: boolean; readonly detail?: string };
  readonly ready: boolean;
}

interface SeriesSpec {
  readonly label: string;
  readonly color: string;
  readonly value: (s: Sample) => number | null;
}

interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly series: readonly SeriesSpec[];
}

const CHARTS: readonly ChartSpec[] = [
  {
    id: 'commands',
    title: 'Requests/s by command',
    series: [
      { label: 'QUERY', color: '#2060c0', value: (s) => s.commands.QUERY ?? 0 },
      { label: 'INDEX', color: '#2e7d32', value: (s) => s.commands.INDEX ?? 0 },
      { label: 'REMOVE', color: '#c07020', value: (s) => s.commands.REMOVE ?? 0 },
      { label: 'INVALID', color: '#b3261e', value: (s) => s.commands.INVALID ?? 0 },
    ],
  },
  {
    id: 'results',
    title: 'Requests/s by result',
    series: [
      { label: 'OK', color: '#2e7d32', value: (s) => s.results.OK ?? 0 },
      { label: 'FAIL', color: '#c07020', value: (s) => s.results.FAIL ?? 0 },
      { label: 'ERROR', color: '#b3261e', value: (s) => s.results.ERROR ?? 0 },
    ],
  },
  {
    id: 'latency',
    title: 'Latency per read chunk (ms)',
    series: [
      { label: 'p50', color: '#2060c0', value: (s) => s.latencyP50 },
      { label: 'p99', color: '#b3261e', value: (s) => s.latencyP99 },
    ],
  },
  {
    id: 'connections',
    title: 'Connections',
    series: [
      { label: 'open', color: '#2060c0', value: (s) => s.connections },
      { label: 'accepted/s', color: '#6a4c93', value: (s) => s.accepted },
    ],
  },
  {
    id: 'errors',
    title: 'Errors/s',
    series: [{ label: 'errors', color: '#b3261e', value: (s) => s.errors }],
  },
  {
    id: 'sync',
    title: 'Storage sync (ms)',
    series: [
      { label: 'p50', color: '#2060c0', value: (s) => s.syncP50 },
      { label: 'p99', color: '#b3261e', value: (s) => s.syncP99 },
      { label: 'syncs/s', color: '#6a4c93', value: (s) => s.syncs },
    ],
  },
];

/** Points kept per chart: five minutes at one sample a second. */
const MAX_POINTS = 300;
const CHART_HEIGHT = 180;

interface Chart {
  readonly spec: ChartSpec;
  readonly plot: UPlot;
  readonly box: HTMLElement;
}

/** Tiles with the latest figures and one uPlot chart per signal. */
export class SignalCharts {
  readonly #tiles: HTMLElement;
  readonly #charts: Chart[] = [];
  readonly #times: number[] = [];
  readonly #values: (number | null)[][][] = [];
  #drawn = false;

  constructor(tiles: HTMLElement, container: HTMLElement) {
    this.#tiles = tiles;
    for (const spec of CHARTS) {
      const box = el('div', 'chart');
      box.dataset.chart = spec.id;
      box.append(el('h2', '', spec.title));
      container.append(box);
      const plot = new uPlot(
        {
          width: this.#width(box),
          height: CHART_HEIGHT,
          series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5 }))],
          scales: { y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] } },
          axes: [{}, { size: 44, values: (_u, splits) => splits.map(compact) }],
          legend: { live: false },
        },
        [[], ...spec.series.map(() => [])],
        box,
      );
      this.#charts.push({ spec, plot, box });
      this.#values.push(spec.series.map(() => []));
    }
    new ResizeObserver(() => {
      this.resize();
    }).observe(container);
  }

  /** Fits each chart to its box (after a resize, or when the view is shown again). */
  resize(): void {
    for (const { plot, box } of this.#charts) {
      const width = this.#width(box);
      if (width > 0 && width !== plot.width) plot.setSize({ width, height: CHART_HEIGHT });
    }
  }

  #width(box: HTMLElement): number {
    return Math.max(box.clientWidth - 16, 0);
  }

  /** Appends samples (oldest first) and redraws. */
  add(samples: readonly Sample[]): void {
    if (samples.length === 0) return;
    for (const sample of samples) {
      this.#times.push(sample.t / 1000);
      this.#charts.forEach(({ spec }, c) => {
        spec.series.forEach((series, i) => this.#values[c]![i]!.push(series.value(sample)));
      });
    }
    const excess = this.#times.length - MAX_POINTS;
    if (excess > 0) {
      this.#times.splice(0, excess);
      for (const chart of this.#values) for (const series of chart) series.splice(0, excess);
    }
    this.#charts.forEach(({ plot }, c) => {
      plot.setData([this.#times, ...this.#values[c]!] as UPlot.AlignedData);
    });
    this.#showTiles(samples[samples.length - 1]!);
    if (!this.#drawn && this.#times.length > 1) {
      this.#drawn = true;
      // Read by the browser tests: the time to first chart.
      performance.mark('pkgindex:first-chart');
      document.body.dataset.charted = 'true';
    }
    document.body.dataset.samples = String(this.#times.length);
  }

  #showTiles(s: Sample): void {
    const total = Object.values(s.commands).reduce((a, b) => a + b, 0);
    const storeState = !s.store.recovered
      ? 'recovering'
      : s.store.writable
        ? 'writable'
        : `not writable${s.store.detail === undefined ? '' : `: ${s.store.detail}`}`;
    const tiles: [string, string, string][] = [
      ['requests/s', format(total), ''],
      ['p99 latency', s.latencyP99 === null ? '–' : `${format(s.latencyP99)} ms`, ''],
      ['connections', format(s.connections), ''],
      ['errors/s', format(s.errors), s.errors > 0 ? 'bad' : ''],
      ['packages', format(s.packages), ''],
      ['edges', format(s.edges), ''],
      ['storage', storeState, s.store.writable && s.store.recovered ? 'good' : 'bad'],
      ['ready', s.ready ? 'yes' : 'no', s.ready ? 'good' : 'bad'],
    ];
    fill(
      this.#tiles,
      ...tiles.map(([label, value, tone]) => {
        const tile = el('div', `tile ${tone}`.trim(), el('div', 'label', label), el('div', 'value', value));
        tile.dataset.tile = label;
        return tile;
      }),
    );
  }
}

const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** Axis labels that fit the axis: 12k, 1.5M. */
function compact(n: number): string {
  return COMPACT.format(n);
}

function format(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 2 : 0 });
}
