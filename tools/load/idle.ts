/**
 * `measure idle`: memory with many idle connections. Starts `pkgindex serve` (in memory, the
 * admin server on a free port), opens --idle connections that send nothing, then runs
 * `pkgindex bench` with 100 connections on the mixed workload, and prints the server's RSS
 * with the idle connections and its peak (VmHWM).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchFreshServer } from '../support/bench-cli.js';
import { intOption, parseToolArgs, positiveOption } from '../support/options.js';
import { memoryOf, sampleAnonPeak, spawnServer } from '../support/serve-process.js';

export const usage = `Usage: node dist/tools/measure.js idle [--idle 10000] [--seconds 10] [--storage memory|disk] [-- serve args...]`;

const MiB = 1024 * 1024;

export async function main(argv: readonly string[]): Promise<number> {
  const { values, rest } = parseToolArgs(
    argv,
    { idle: { type: 'string' }, seconds: { type: 'string' }, storage: { type: 'string' } },
    usage,
  );
  const idle = intOption('--idle', values.idle, 10_000);
  const seconds = positiveOption('--seconds', values.seconds, 10);
  const server = await spawnServer({
    storage: values.storage === 'disk' ? 'disk' : 'memory',
    dataDir: `/tmp/pkgindex-idle-${process.pid}`,
    // Every connection comes from this host: no limit per peer (issue 12's default of 2,000
    // would refuse most of the idle connections and then the load's).
    args: ['--max-connections', String(idle + 1000), '--max-connections-per-peer', '0', ...rest],
  });
  const sockets: Socket[] = [];
  try {
    const base = memoryOf(server.pid);
    const anon = sampleAnonPeak(server.pid);
    for (let i = 0; i < idle; i++) {
      const s = connect({ port: server.port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      sockets.push(s);
      if (i % 500 === 499) await once(s, 'connect');
    }
    // Time for the server to accept the last connections (not synchronisation: a settling pause).
    await sleep(1000);
    const withIdle = memoryOf(server.pid);
    const result = await benchFreshServer(server, seconds, ['--connections', '100', '--in-flight', '1']);
    const peakAnon = anon.stop();
    const after = memoryOf(server.pid);
    const f = (b: number): string => `${(b / MiB).toFixed(1)} MiB (${(b / 1e6).toFixed(1)} MB)`;
    console.log(`idle connections:        ${idle}`);
    console.log(`server RSS at start:     ${f(base.rss)} (RssAnon ${f(base.rssAnon)})`);
    console.log(
      `RSS with idle conns:     ${f(withIdle.rss)} (${((withIdle.rss - base.rss) / idle).toFixed(0)} bytes per connection)`,
    );
    console.log(`peak RSS (VmHWM) overall: ${f(after.peak)}`);
    console.log(`peak RssAnon (sampled every 50 ms): ${f(peakAnon)}`);
    if (result instanceof Error) console.log(`bench failed: ${result.message}`);
    else
      console.log(
        `bench 100x1 mixed:       ${Math.round(result.opsPerSec)} ops/s, protocol errors ${result.protocolErrors}`,
      );
    return result instanceof Error ? 1 : 0;
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop('SIGTERM');
    process.stderr.write(server.stderr());
  }
}
