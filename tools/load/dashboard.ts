/**
 * `measure dashboard`: what the web dashboard weighs and costs. Prints
 *  - page weight: the bytes the page loads (raw and as sent gzipped), first for the signals
 *    view, then what a package page adds (cytoscape.js, loaded on first use);
 *  - time to first chart: navigation start to the first chart drawn, in a fresh browser context
 *    each time, against a server that has been sampling for a while (so the history is there);
 *  - the protocol's QUERY latency (request/response, p50/p99/max) with the dashboard closed,
 *    open in chromium (the SSE stream and the charts redrawing every second), and with the
 *    maximum number of event streams open without a browser (the server's share alone),
 *    interleaved over rounds on one server; with the server's CPU time per QUERY
 *    (/proc/<pid>/stat), steadier than latency on a shared machine.
 * Needs /usr/bin/chromium (Debian's) for the browser figures.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { SIGNAL_STREAM_DEFAULTS } from '../../src/admin/dashboard/signal-stream.js';
import { sampleProcess } from '../../src/bench/proc-stats.js';
import { median } from '../matrix/targets.js';
import { ToolError } from '../support/errors.js';
import { intOption, parseToolArgs, positiveOption } from '../support/options.js';
import { spawnServer, type ServerProcess } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js dashboard [--rounds 5] [--seconds 5] [--connections 8]`;

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const PACKAGES = 2000;

function wireBytes(port: number, path: string, encoding: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => {
        resolve(bytes);
      });
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

async function pageWeight(browser: Browser, server: ServerProcess): Promise<void> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const urls: string[] = [];
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.pathname !== '/v1/events' && !url.pathname.startsWith('/v1/')) urls.push(url.pathname);
  });
  await page.goto(`http://127.0.0.1:${server.adminPort}/`);
  await page.waitForSelector('body[data-charted="true"]');
  const signals = [...urls];
  await page.goto(`http://127.0.0.1:${server.adminPort}/#/package/p1`);
  await page.waitForSelector('body[data-package="p1"]');
  const added = urls.slice(signals.length);
  await context.close();
  for (const [label, paths] of [
    ['signals view (first load)', signals],
    ['package page adds', added],
  ] as const) {
    let raw = 0;
    let gzip = 0;
    for (const path of paths) {
      raw += await wireBytes(server.adminPort, path, 'identity');
      gzip += await wireBytes(server.adminPort, path, 'gzip');
    }
    console.log(
      `  ${label.padEnd(27)} ${paths.length} files, ${(raw / 1024).toFixed(1)} KiB, ${(gzip / 1024).toFixed(1)} KiB gzipped: ${paths.join(' ')}`,
    );
  }
}

async function timeToFirstChart(browser: Browser, server: ServerProcess, times: number): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${server.adminPort}/`);
    await page.waitForSelector('body[data-charted="true"]');
    ms.push(
      await page.evaluate(() => performance.getEntriesByName('pkgindex:first-chart')[0]?.startTime ?? NaN),
    );
    await context.close();
  }
  console.log(
    `  time to first chart: median ${Math.round(median(ms))} ms (runs ${ms.map(Math.round).join(' ')}), fresh context each`,
  );
}

/** Request/response QUERY on `connections` connections for `seconds`: per-request latencies in µs. */
async function queryLatencies(port: number, connections: number, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, (_, c) => {
      return new Promise<void>((resolve, reject) => {
        const socket: Socket = connect({ host: '127.0.0.1', port });
        socket.setNoDelay(true);
        let i = c;
        let sentAt = 0n;
        const send = (): void => {
          i = (i + connections) % PACKAGES;
          sentAt = process.hrtime.bigint();
          socket.write(`QUERY|p${i}|\n`);
        };
        socket.on('connect', send);
        socket.on('data', (chunk: Buffer) => {
          latencies.push(Number(process.hrtime.bigint() - sentAt) / 1000);
          if (chunk.toString('latin1') !== 'OK\n')
            reject(new ToolError(`unexpected reply ${chunk.toString()}`));
          else if (performance.now() < until) send();
          else socket.end(resolve);
        });
        socket.on('error', reject);
      });
    }),
  );
  return latencies;
}

/** User + system CPU seconds of a process, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  const sample = sampleProcess(pid);
  if (sample === null) throw new ToolError(`cannot read /proc/${pid}: this measurement needs Linux`);
  return sample.cpuSeconds;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Mode {
  readonly name: string;
  /** Opens what the mode keeps open during the run; returns how to close it. */
  open(server: ServerProcess, browser: Browser | null): Promise<() => Promise<void>>;
}

const MODES: readonly Mode[] = [
  { name: 'dashboard closed', open: () => Promise.resolve(() => Promise.resolve()) },
  {
    name: 'dashboard open (chromium)',
    async open(server, browser) {
      if (browser === null) throw new ToolError('no browser');
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${server.adminPort}/`);
      await page.waitForSelector('body[data-charted="true"]');
      return () => context.close();
    },
  },
  {
    name: `${SIGNAL_STREAM_DEFAULTS.maxClients} event streams (no browser)`,
    async open(server) {
      const controllers = await Promise.all(
        Array.from({ length: SIGNAL_STREAM_DEFAULTS.maxClients }, async () => {
          // The previous mode's streams free their slots once the server sees them close.
          for (let attempt = 0; ; attempt++) {
            const controller = new AbortController();
            const response = await fetch(`http://127.0.0.1:${server.adminPort}/v1/events`, {
              signal: controller.signal,
            });
            if (response.status === 200) {
              void response.body!.pipeTo(new WritableStream()).catch(() => undefined);
              return controller;
            }
            await response.body?.cancel();
            if (response.status !== 503 || attempt === 100)
              throw new ToolError(`/v1/events answered ${response.status}`);
            await sleep(50);
          }
        }),
      );
      return () => {
        for (const c of controllers) c.abort();
        return Promise.resolve();
      };
    },
  },
];

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    { rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' } },
    usage,
  );
  const rounds = intOption('--rounds', values.rounds, 5);
  const seconds = positiveOption('--seconds', values.seconds, 5);
  const connections = intOption('--connections', values.connections, 8);
  const browser = existsSync(CHROMIUM)
    ? await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    : null;
  if (browser === null) console.log(`${CHROMIUM} is missing: browser figures left out`);
  const server = await spawnServer({ admin: true });
  try {
    // A graph to query, and a few seconds of history for the charts.
    const setup = connect({ host: '127.0.0.1', port: server.port });
    let lines = '';
    for (let i = 0; i < PACKAGES; i++) lines += `INDEX|p${i}|${i > 0 ? `p${i - 1}` : ''}\n`;
    await new Promise<void>((resolve) => {
      let replies = 0;
      setup.on('data', (c: Buffer) => {
        for (const b of c) if (b === 0x0a && ++replies === PACKAGES) setup.end(resolve);
      });
      setup.write(lines);
    });
    await queryLatencies(server.port, connections, 2);

    if (browser !== null) {
      console.log('Dashboard page:');
      await pageWeight(browser, server);
      await timeToFirstChart(browser, server, 5);
    }

    const modes = MODES.filter((m) => browser !== null || !m.name.includes('chromium'));
    const results = modes.map(
      () => [] as { p50: number; p99: number; max: number; n: number; cpuUs: number }[],
    );
    for (let r = 0; r < rounds; r++)
      for (const m of modes.map((_, i) => (i + r) % modes.length)) {
        const close = await modes[m]!.open(server, browser);
        try {
          const cpuBefore = cpuSecondsOf(server.pid);
          const sorted = (await queryLatencies(server.port, connections, seconds)).sort((a, b) => a - b);
          const cpu = cpuSecondsOf(server.pid) - cpuBefore;
          results[m]!.push({
            p50: quantile(sorted, 0.5),
            p99: quantile(sorted, 0.99),
            max: sorted[sorted.length - 1]!,
            n: sorted.length / seconds,
            cpuUs: (cpu / sorted.length) * 1e6,
          });
        } finally {
          await close();
        }
      }
    console.log(
      `\nQUERY request/response, ${connections} connections, ${rounds} rounds of ${seconds} s (latency in µs, medians of the rounds):`,
    );
    modes.forEach((mode, m) => {
      const of = (key: 'p50' | 'p99' | 'max' | 'n' | 'cpuUs'): number =>
        median(results[m]!.map((x) => x[key]));
      console.log(
        `  ${mode.name.padEnd(30)} p50 ${of('p50').toFixed(0)}  p99 ${of('p99').toFixed(0)}  max ${of('max').toFixed(0)}  ` +
          `QUERY/s ${Math.round(of('n'))}  server CPU/QUERY ${of('cpuUs').toFixed(2)} µs  ` +
          `(p99 runs ${results[m]!.map((x) => x.p99.toFixed(0)).join(' ')}; CPU runs ${results[m]!.map((x) => x.cpuUs.toFixed(2)).join(' ')})`,
      );
    });
  } finally {
    await server.stop();
    await browser?.close();
  }
  return 0;
}
