/**
 * What the query API costs the protocol (issue 15): the protocol's QUERY latency (p50, p99,
 * max) from one closed-loop client, alone and while HTTP clients make the API walk the largest
 * closure of the index over and over, in alternating rounds (the machine is shared: each
 * figure is compared with the references measured in the same run: no API load, and the same
 * clients on a route that walks nothing, which keeps the server as busy with HTTP alone). Prints a
 * table for docs/benchmarks.md. Not a test.
 *
 *   npm run build && node dist/tools/measure.js query-api [--seconds 4] [--rounds 2] [--clients 4] [--max-visits N] [--cli PATH]
 *
 * The index: Debian's archive from `apt-cache dumpavail` with its cycles broken (libc6 is
 * under ~60,000 packages), or, without apt, a synthetic graph of 60,000 packages under one.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { parseDebian } from '../../src/import/debian.js';
import { planImport, type SourcePackage } from '../../src/import/plan.js';
import { ToolError } from '../support/errors.js';
import { LineClient } from '../support/line-client.js';
import { spawnServer } from '../support/serve-process.js';

export const usage = `What the query API costs the protocol: QUERY latency alone and while the API walks the
largest closure, in alternating rounds.

  npm run build && node dist/tools/measure.js query-api [--seconds 4] [--rounds 2] [--clients 4] [--max-visits N] [--cli PATH]

--cli PATH measures another build's server (its dist/src/cli/main.js) with this load.
`;

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function source(): Promise<{ label: string; packages: readonly SourcePackage[]; hub: string }> {
  const dump = spawnSync('apt-cache', ['dumpavail'], { encoding: 'latin1', maxBuffer: 1 << 30 });
  if (dump.status === 0) {
    const plan = planImport((await parseDebian(dump.stdout.split('\n'))).packages, { breakCycles: true });
    return {
      label: `Debian (apt-cache dumpavail), ${plan.order.length} packages`,
      packages: plan.order,
      hub: 'libc6',
    };
  }
  const packages: SourcePackage[] = [{ name: 'base', deps: [] }];
  let seed = 42;
  const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 1; i < 60_000; i++)
    packages.push({
      name: `p${i}`,
      deps: ['base', ...Array.from({ length: 3 }, () => `p${1 + random(i)}`)].filter((d) => d !== `p${i}`),
    });
  return { label: 'synthetic, 60,000 packages under one', packages, hub: 'base' };
}

/** The HTTP clients' loop, run in a worker thread (plain JS: a worker evaluates it as is). */
const HTTP_LOAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, clients, stop } = workerData;
const api = [];
Promise.all(Array.from({ length: clients }, async () => {
  while (Date.now() < stop) {
    const t = performance.now();
    const r = await fetch(url);
    await r.arrayBuffer();
    api.push(performance.now() - t);
  }
})).then(() => parentPort.postMessage(api));
`;

/** Runs `clients` HTTP clients getting `url` back to back until `stop`; resolves their latencies. */
function httpLoad(load: { url: string; clients: number; stop: number }): Promise<number[]> {
  const worker = new Worker(HTTP_LOAD, { eval: true, workerData: load });
  return new Promise((resolve, reject) => {
    worker.once('message', (api: number[]) => {
      resolve(api);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '2' },
      clients: { type: 'string', default: '4' },
      'max-visits': { type: 'string' },
      cli: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const clients = Number(values.clients);
  const { label, packages, hub } = await source();
  const maxVisits = values['max-visits'];
  const server = await spawnServer({
    args: maxVisits === undefined ? [] : ['--query-max-visits', maxVisits],
    ...(values.cli === undefined ? {} : { cli: values.cli }),
  });
  try {
    const feeder = await LineClient.open(server.port);
    for (let i = 0; i < packages.length; i += 5000) {
      const batch = packages
        .slice(i, i + 5000)
        .map((p) => `INDEX|${p.name}|${[...new Set(p.deps)].join(',')}`);
      const replies = await feeder.request(...batch);
      if (replies.some((r) => r !== 'OK'))
        throw new ToolError(`the server refused part of the plan: ${replies.find((r) => r !== 'OK')}`);
    }
    feeder.close();
    const base = `http://127.0.0.1:${server.adminPort}`;
    const info = (await (
      await fetch(`${base}/v1/packages/${hub}/dependents?transitive=true&limit=1`)
    ).json()) as {
      total: number;
      truncated: boolean;
    };
    console.log(
      `Index: ${label}; ${hub}: ${info.total} transitive dependents${info.truncated ? ' (walk truncated at the visit budget)' : ''}.\n`,
    );

    const loads: Record<string, string | null> = {
      'no API load (reference)': null,
      // The same clients on a route that walks nothing: what a server kept busy by HTTP alone
      // costs the protocol on this machine (the floor for the rows below).
      [`${clients} HTTP clients: ${hub}'s direct dependencies, page of 1 (busy reference)`]: `/v1/packages/${hub}/dependencies?limit=1`,
      [`${clients} HTTP clients: ${hub}'s transitive dependents, page of 100`]: `/v1/packages/${hub}/dependents?transitive=true&limit=100`,
      [`${clients} HTTP clients: ${hub}'s removal order`]: `/v1/packages/${hub}/removal-order`,
      [`${clients} HTTP clients: ${hub}, one package (closure size, depth)`]: `/v1/packages/${hub}`,
    };
    const results = new Map<string, { latencies: number[]; api: number[] }>();
    const client = await LineClient.open(server.port);
    for (let round = 0; round < rounds; round++)
      for (const [name, path] of Object.entries(loads)) {
        const stop = Date.now() + seconds * 1000;
        const api: number[] = [];
        // The HTTP clients run in a thread of their own: parsing their answers in this thread's
        // event loop would delay the protocol client's replies and count as the server's latency.
        const workers =
          path === null ? [] : [httpLoad({ url: base + path, clients, stop }).then((xs) => api.push(...xs))];
        const latencies: number[] = [];
        while (Date.now() < stop) {
          const t = performance.now();
          await client.request(`QUERY|${hub}|`);
          latencies.push(performance.now() - t);
        }
        await Promise.all(workers);
        const entry = results.get(name) ?? { latencies: [], api: [] };
        // concat, not push(...): a round holds more samples than a call may take arguments.
        results.set(name, { latencies: entry.latencies.concat(latencies), api: entry.api.concat(api) });
      }
    client.close();
    console.log(
      `| API load (${rounds} rounds of ${seconds} s each, alternating) | protocol QUERYs | QUERY p50 | p99 | max | API requests/s | API p50 | API p99 |`,
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, { latencies, api }] of results) {
      const l = [...latencies].sort((a, b) => a - b);
      const a = [...api].sort((x, y) => x - y);
      const ms = (x: number): string => (Number.isNaN(x) ? '-' : `${x.toFixed(2)} ms`);
      console.log(
        `| ${name} | ${l.length} | ${ms(percentile(l, 50))} | ${ms(percentile(l, 99))} | ${ms(l[l.length - 1] ?? NaN)} | ` +
          `${a.length === 0 ? '-' : (a.length / (rounds * seconds)).toFixed(0)} | ${ms(percentile(a, 50))} | ${ms(percentile(a, 99))} |`,
      );
    }
  } finally {
    await server.stop();
  }
  return 0;
}
