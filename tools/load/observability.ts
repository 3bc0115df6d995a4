/**
 * `measure observability`: what metrics collection costs the hot path. The server with the
 * admin server and metrics off (--admin=false: no latency clock reads, no registry) against
 * on (not scraped, and scraped every second, 15 times Prometheus's usual rate), interleaved
 * over several rounds so that drift on a shared machine hits all alike. Reports throughput
 * and, steadier on a shared machine, the server's CPU time per reply (/proc/<pid>/stat).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleProcess } from '../../src/bench/proc-stats.js';
import { median } from '../matrix/targets.js';
import { ToolError } from '../support/errors.js';
import { intOption, parseToolArgs, positiveOption } from '../support/options.js';
import { spawnServer } from '../support/serve-process.js';
import { runLoad } from './pipelined-load.js';

export const usage = `Usage: node dist/tools/measure.js observability [--rounds 5] [--seconds 5] [--workload pipelined|request]`;

const WORKLOADS = [
  { name: 'pipelined (4 connections x 64 in flight)', connections: 4, depth: 64 },
  { name: 'request/response (16 connections x 1 in flight)', connections: 16, depth: 1 },
];
const MODES = [
  { name: 'metrics off (--admin=false)', admin: false, scrape: false },
  { name: 'metrics on, not scraped', admin: true, scrape: false },
  { name: 'metrics on, scraped every 1 s', admin: true, scrape: true },
];

/** User + system CPU seconds the process has used, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  const sample = sampleProcess(pid);
  if (sample === null) throw new ToolError(`cannot read /proc/${pid}: this measurement needs Linux`);
  return sample.cpuSeconds;
}

async function measure(
  mode: (typeof MODES)[number],
  workload: (typeof WORKLOADS)[number],
  seconds: number,
): Promise<{ rps: number; cpuUs: number }> {
  const server = await spawnServer({ admin: mode.admin });
  let scraping = mode.scrape;
  const scraper = (async () => {
    while (scraping) {
      await fetch(`http://127.0.0.1:${server.adminPort}/metrics`).then((r) => r.text());
      await sleep(1000);
    }
  })();
  try {
    let cpuAtStart = 0;
    let cpuSeconds = 0;
    const result = await runLoad({
      port: server.port,
      connections: workload.connections,
      depth: workload.depth,
      seconds,
      warmup: 1,
      onStart: () => {
        cpuAtStart = cpuSecondsOf(server.pid);
      },
      onStop: () => {
        cpuSeconds = cpuSecondsOf(server.pid) - cpuAtStart;
      },
    });
    if (result.errors > 0) throw new ToolError(`${result.errors} ERROR replies: the workload is wrong`);
    return { rps: result.repliesPerSecond, cpuUs: (cpuSeconds / result.replies) * 1e6 };
  } finally {
    scraping = false;
    await scraper;
    await server.stop();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseToolArgs(
    argv,
    { rounds: { type: 'string' }, seconds: { type: 'string' }, workload: { type: 'string' } },
    usage,
  );
  const rounds = intOption('--rounds', values.rounds, 5);
  const seconds = positiveOption('--seconds', values.seconds, 5);
  for (const workload of WORKLOADS.filter(
    (w) => values.workload === undefined || w.name.startsWith(values.workload),
  )) {
    const results = MODES.map(() => [] as { rps: number; cpuUs: number }[]);
    for (let r = 0; r < rounds; r++) {
      // Rotate which mode goes first, so none always runs on a warmer (or busier) machine.
      for (const m of MODES.map((_, i) => (i + r) % MODES.length))
        results[m]!.push(await measure(MODES[m]!, workload, seconds));
    }
    console.log(`\n${workload.name}, ${rounds} rounds of ${seconds} s:`);
    MODES.forEach((mode, m) => {
      const rps = results[m]!.map((x) => x.rps);
      const cpu = results[m]!.map((x) => x.cpuUs);
      console.log(
        `  ${mode.name.padEnd(30)} replies/s median ${Math.round(median(rps))} (runs ${rps.map(Math.round).join(' ')})` +
          `; server CPU per reply median ${median(cpu).toFixed(3)} us (runs ${cpu.map((x) => x.toFixed(3)).join(' ')})`,
      );
    });
    const medianOf = (m: number, key: 'rps' | 'cpuUs'): number => median(results[m]!.map((x) => x[key]));
    for (let m = 1; m < MODES.length; m++) {
      const drps = (medianOf(m, 'rps') / medianOf(0, 'rps') - 1) * 100;
      const dcpu = (medianOf(m, 'cpuUs') / medianOf(0, 'cpuUs') - 1) * 100;
      console.log(
        `  ${MODES[m]!.name} vs off: replies/s ${drps.toFixed(1)}%, CPU per reply ${dcpu >= 0 ? '+' : ''}${dcpu.toFixed(1)}%`,
      );
    }
  }
  return 0;
}
