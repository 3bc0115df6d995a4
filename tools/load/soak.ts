/**
 * `measure soak`: the server under a sustained load for minutes, its memory sampled as it goes.
 * Starts `pkgindex serve` (durable by default, in a fresh data dir, the admin server on a free
 * port), runs one `pkgindex bench` for --seconds (the mutation load by default: under it a
 * durable server rotates its log and compacts every few seconds), and every --every seconds
 * reads the server's RSS and anonymous memory from /proc and its compactions and group commits
 * from /metrics. It prints them as a table, then whether memory grew: the lowest anonymous
 * memory of the last third of the samples against that of the middle third. Troughs, not
 * peaks: a peak depends on where a sample falls in a compaction or a collection, a trough that
 * rises from one third to the next is memory that is not given back. Exits 1 on a protocol
 * error, a failed bench, or growth above --max-growth-mb.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { benchFreshServer } from '../support/bench-cli.js';
import { newDataDir, removeDataDir } from '../support/data-dir.js';
import { ToolUsageError } from '../support/errors.js';
import { parseToolArgs, positiveOption } from '../support/options.js';
import { memoryOf, spawnServer } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js soak [options] [-- serve args...]

  --seconds N        how long the load runs (default 240)
  --every N          seconds between samples (default 10)
  --storage KIND     disk (default) or memory
  --mix SPEC         the load's mix, as pkgindex bench takes it (default index=50,remove=50)
  --connections N    client connections (default 100), each with --in-flight requests
  --in-flight N      requests outstanding per connection (default 32)
  --max-growth-mb N  the growth of the anonymous memory's troughs that fails the run (default 16)`;

const MB = 1e6;

interface Sample {
  readonly t: number;
  readonly rss: number;
  readonly rssAnon: number;
  readonly compactions: number | null;
  readonly commits: number | null;
}

/** A counter of the server's /metrics (the sum of its series), or null when absent. */
function counter(metrics: string, name: string): number | null {
  let found: number | null = null;
  for (const line of metrics.split('\n'))
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      found = (found ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  return found;
}

async function sample(pid: number, adminPort: number, t: number): Promise<Sample> {
  const { rss, rssAnon } = memoryOf(pid);
  const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  return {
    t,
    rss,
    rssAnon,
    compactions: counter(metrics, 'pkgindex_store_compaction_duration_seconds_count'),
    commits: counter(metrics, 'pkgindex_store_sync_duration_seconds_count'),
  };
}

/** The lowest anonymous memory of the middle and of the last third of the samples. */
export function troughs(samples: readonly Sample[]): { middle: number; last: number } | null {
  const third = Math.floor(samples.length / 3);
  if (third === 0) return null;
  const low = (part: readonly Sample[]): number => Math.min(...part.map((s) => s.rssAnon));
  return { middle: low(samples.slice(third, 2 * third)), last: low(samples.slice(samples.length - third)) };
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values, rest } = parseToolArgs(
    argv,
    {
      seconds: { type: 'string' },
      every: { type: 'string' },
      storage: { type: 'string' },
      mix: { type: 'string' },
      connections: { type: 'string' },
      'in-flight': { type: 'string' },
      'max-growth-mb': { type: 'string' },
    },
    usage,
  );
  const seconds = positiveOption('--seconds', values.seconds, 240);
  const every = positiveOption('--every', values.every, 10);
  const storage = values.storage ?? 'disk';
  if (storage !== 'disk' && storage !== 'memory')
    throw new ToolUsageError(`--storage must be disk or memory, not ${storage}`);
  const maxGrowth = positiveOption('--max-growth-mb', values['max-growth-mb'], 16) * MB;
  const connections = positiveOption('--connections', values.connections, 100);
  const inFlight = positiveOption('--in-flight', values['in-flight'], 32);
  const mix = values.mix ?? 'index=50,remove=50';
  if (3 * every > seconds) throw new ToolUsageError('--seconds must be at least three times --every');

  const dataDir = newDataDir('soak-');
  const server = await spawnServer({ storage, dataDir, args: rest });
  try {
    const bench = benchFreshServer(server, seconds, [
      '--connections',
      String(connections),
      '--in-flight',
      String(inFlight),
      '--mix',
      mix,
    ]);
    const ended = bench.then(() => true);
    const samples: Sample[] = [];
    const started = performance.now();
    for (let k = 1; k * every < seconds; k++) {
      const wait = sleep(started + k * every * 1000 - performance.now()).then(() => false);
      if (await Promise.race([wait, ended])) break;
      samples.push(await sample(server.pid, server.adminPort, k * every));
    }
    const result = await bench;

    const mb = (b: number): string => (b / MB).toFixed(1);
    console.log(`soak: --storage ${storage}, ${connections}×${inFlight}, mix ${mix}, ${seconds} s\n`);
    console.log('| t (s) | RSS (MB) | RssAnon (MB) | compactions | group commits |');
    console.log('| ---: | ---: | ---: | ---: | ---: |');
    for (const s of samples)
      console.log(
        `| ${s.t} | ${mb(s.rss)} | ${mb(s.rssAnon)} | ${s.compactions ?? '-'} | ${s.commits ?? '-'} |`,
      );
    console.log('');
    let failed = false;
    if (result instanceof Error) {
      console.log(`bench failed: ${result.message}`);
      failed = true;
    } else {
      const server_ = result.server;
      console.log(
        `load: ${result.answered.toLocaleString('en-US')} replies, ${Math.round(result.opsPerSec).toLocaleString('en-US')} ops/s, ` +
          `protocol errors ${result.protocolErrors}` +
          (server_ === null
            ? ''
            : `, server CPU ${((server_.cpuSeconds / result.answered) * 1e6).toFixed(2)} µs a reply, peak RSS ${mb(server_.peakRssBytes)} MB`),
      );
      if (result.protocolErrors > 0) failed = true;
    }
    const t = troughs(samples);
    if (t === null) console.log('memory: too few samples to compare');
    else {
      const growth = t.last - t.middle;
      const verdict = growth > maxGrowth ? 'GREW' : 'flat';
      console.log(
        `memory: lowest RssAnon ${mb(t.middle)} MB in the middle third, ${mb(t.last)} MB in the last: ` +
          `${growth >= 0 ? '+' : ''}${mb(growth)} MB (${verdict}; the run fails above +${mb(maxGrowth)} MB)`,
      );
      if (growth > maxGrowth) failed = true;
    }
    return failed ? 1 : 0;
  } finally {
    await server.stop('SIGTERM');
    removeDataDir(dataDir);
  }
}
